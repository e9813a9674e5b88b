"""``livethresh presets`` and ``livethresh devices``, and every preset run on a real frame."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import pytest

from livethresh.binarize.binarizer import Binarizer
from livethresh.binarize.opencv import REFERENCE_METHODS
from livethresh.binarize.opencv import article_reference as reference
from livethresh.cli import app
from livethresh.config import load_preset
from livethresh.presets import iter_presets
from livethresh.sources import devices
from livethresh.synthetic import document_photo
from tests.helpers import invoke

PRESETS = [name for name, _ in iter_presets()]


def test_common_scene_presets_ship():
    assert {"article", "document", "scan", "whiteboard", "receipt", "lowlight-webcam"} <= set(
        PRESETS
    )


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_runs_exactly(name):
    """Bands equal a whole frame; a preset of the seed's OpenCV methods equals the seed code."""
    config = load_preset(name)
    gray, _ = document_photo(240, 320, seed=3)
    with Binarizer(config, gray.shape, threads=2) as run:
        mask = run(gray)
    with Binarizer(config, gray.shape, threads=1) as run:
        assert np.array_equal(mask, run(gray))
    if config.method in REFERENCE_METHODS and not (config.despeckle or config.auto_scale):
        assert np.array_equal(mask, reference(gray, config))
    assert 0 < np.count_nonzero(mask) < mask.size


SCENE_PRESETS = ("document", "scan", "receipt", "whiteboard", "lowlight-webcam")
#: Share of the truth's paper a preset must write white on the test's camera-like photo: the
#: learned method (``scan``) draws strokes about a pixel bolder than this synthetic truth, as
#: DIBCO's annotators draw them (0.941 measured).
PAPER_WHITE = {"scan": 0.93}


@pytest.mark.parametrize("name", SCENE_PRESETS)
def test_scene_presets_write_dark_ink_on_white_paper_and_invert_gives_the_mask(name, tmp_path):
    """As a scan or photocopy looks: paper 255, ink 0; ``--invert`` is the exact complement."""
    gray, truth = document_photo(240, 320, seed=3)
    page = tmp_path / "page.png"
    cv2.imwrite(str(page), gray)
    masks = []
    for extra in ([], ["--invert"]):
        out = tmp_path / f"mask{len(masks)}.png"
        result = invoke("image", page, out, "--preset", name, *extra)
        assert result.exit_code == 0, result.output
        masks.append(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE))
    plain, inverted = masks
    assert (plain[truth == 0] == 255).mean() > PAPER_WHITE.get(name, 0.95)  # paper is white
    assert (plain[truth == 255] == 0).mean() > 0.8  # ink is dark
    assert np.array_equal(inverted, 255 - plain)


def test_presets_command_lists_names_descriptions_and_values():
    result = invoke(*["presets"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name in PRESETS:
        assert name in text
    assert "block_size=11" in text
    assert "pipeline" in text  # the article preset's description
    for line in result.stdout.splitlines():
        cells = line.split("│")
        if len(cells) > 2 and cells[1].strip() in SCENE_PRESETS:  # a preset's first line
            assert "dark ink on white" in line, line
    assert "--invert writes ink as white (255) on black" in text


def test_devices_with_no_camera_says_so_and_exits_0(monkeypatch):
    monkeypatch.setattr(devices, "list_cameras", lambda: [])
    result = invoke(*["devices"])
    assert result.exit_code == 0
    assert "No cameras found" in result.stdout


@pytest.mark.skipif(not devices.sys.platform.startswith("linux"), reason="v4l2 listing")
def test_devices_reports_a_node_that_cannot_be_opened(monkeypatch, tmp_path):
    """A /dev/video* node that is not a camera is listed with FFmpeg's reason, not a crash."""
    fake = tmp_path / "video7"
    fake.write_bytes(b"")
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [str(fake)])
    cameras = devices.list_cameras()
    assert [c.source for c in cameras] == [str(fake)]
    assert cameras[0].formats == () and cameras[0].note
    result = invoke(*["devices"])
    assert result.exit_code == 0 and str(fake) in result.stdout


def test_parse_v4l2_formats():
    lines = [
        "Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 160x120 1280x720",
        "Compressed:       mjpeg :          Motion-JPEG : 640x480 1920x1080",
        "Raw       :     nv12    :       Y/CbCr 4:2:0 : {32-4096, 2}x{32-2160, 2}",
        "some other log line",
    ]
    formats = devices.parse_v4l2_formats(lines)
    assert [(f.pix_fmt, f.compressed) for f in formats] == [
        ("yuyv422", False),
        ("mjpeg", True),
        ("nv12", False),
    ]
    assert formats[0].description == "YUYV 4:2:2"
    assert formats[1].sizes == ("640x480", "1920x1080")
    assert formats[2].sizes == ("{32-4096, 2}x{32-2160, 2}",)


def test_parse_avfoundation_and_dshow_device_lists():
    avf = [
        "AVFoundation video devices:",
        "[0] FaceTime HD Camera",
        "[1] Capture screen 0",
        "AVFoundation audio devices:",
        "[0] MacBook Pro Microphone",
    ]
    assert devices.parse_avfoundation_devices(avf) == [
        ("0", "FaceTime HD Camera"),
        ("1", "Capture screen 0"),
    ]
    dshow = [
        '"Integrated Camera" (video)',
        '  Alternative name "@device_pnp_x"',
        '"Microphone (Realtek)" (audio)',
    ]
    assert devices.parse_dshow_devices(dshow) == ["Integrated Camera"]


COMMANDS = ["image", "preview", "transcode", "bench", "demo", "presets", "devices"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = invoke(*[name, "--help"])
    assert result.exit_code == 0
    assert f"Example: livethresh {name}" in " ".join(result.stdout.split())


def test_threshold_options_read_the_same_in_every_command():
    import typer.main

    group = typer.main.get_command(app)

    def options(name: str) -> dict[str, tuple[tuple[str, ...], str]]:
        params = group.commands[name].params  # type: ignore[attr-defined]
        return {
            p.name: (tuple(p.opts + p.secondary_opts), p.help)
            for p in params
            if getattr(p, "rich_help_panel", None) == "Threshold options"
        }

    first = options("image")
    assert {"method", "block_size", "c", "blur", "invert", "threshold", "preset"} <= set(first)
    for name in ("preview", "transcode", "bench"):
        other = options(name)
        assert other.keys() == first.keys()
        for key, (flags, text) in first.items():
            assert other[key][0] == flags, (name, key)
            if key != "preset":  # transcode's --preset also names encoder speed presets
                assert other[key][1] == text, (name, key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["image"], "Missing argument 'input'. (see `livethresh image --help`)"),
        (["imag"], "No such command 'imag'."),
        (["image", "a.png", "b.png", "--bogus"], "No such option: --bogus"),
        (["bench", "--frames", "many"], "Invalid value for '--frames'"),
    ],
)
def test_usage_errors_are_one_line_with_a_hint(args, message):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "livethresh", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livethresh: error: "), done.stderr
    assert message in lines[0] and "--help" in lines[0]


def test_version():
    result = invoke(*["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("livethresh ")


def test_v4l2_ioctl_codes_match_the_kernel_headers():
    # The values of VIDIOC_ENUM_FMT, _ENUM_FRAMESIZES, _ENUM_FRAMEINTERVALS on Linux.
    assert devices.VIDIOC_ENUM_FMT == 0xC0405602
    assert devices.VIDIOC_ENUM_FRAMESIZES == 0xC02C564A
    assert devices.VIDIOC_ENUM_FRAMEINTERVALS == 0xC034564B


class FakeCamera:
    """Answers V4L2's enumeration ioctls like a webcam with YUYV and MJPEG."""

    FORMATS: ClassVar = ((b"YUYV", "YUYV 4:2:2", 0), (b"MJPG", "Motion-JPEG", 1))
    SIZES: ClassVar = {b"YUYV": ((640, 480), (1280, 720)), b"MJPG": "stepwise"}
    RATES: ClassVar = {(640, 480): ((1, 30), (1, 15)), (1280, 720): ((1001, 30000),)}

    def ioctl(self, fd, request, struct):
        import errno as errnos

        def end():
            raise OSError(errnos.EINVAL, "end of list")

        if request == devices.VIDIOC_ENUM_FMT:
            if struct.index >= len(self.FORMATS):
                end()
            fourcc, text, flags = self.FORMATS[struct.index]
            struct.pixelformat = int.from_bytes(fourcc, "little")
            struct.description, struct.flags = text.encode(), flags
        elif request == devices.VIDIOC_ENUM_FRAMESIZES:
            sizes = self.SIZES[struct.pixel_format.to_bytes(4, "little")]
            if sizes == "stepwise":
                if struct.index:
                    end()
                struct.type = 3
                struct.data[:] = [32, 1920, 8, 32, 1080, 8]
            else:
                if struct.index >= len(sizes):
                    end()
                struct.type = 1
                struct.data[0], struct.data[1] = sizes[struct.index]
        elif request == devices.VIDIOC_ENUM_FRAMEINTERVALS:
            rates = self.RATES[(struct.width, struct.height)]
            if struct.index >= len(rates):
                end()
            struct.type = 1
            struct.data[0], struct.data[1] = rates[struct.index]
        else:
            raise OSError(errnos.ENOTTY, "not a V4L2 request")
        return 0


def test_devices_lists_formats_sizes_and_rates_from_v4l2(monkeypatch, tmp_path):
    node = tmp_path / "video0"
    node.write_bytes(b"")
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [str(node)])
    monkeypatch.setattr(devices.fcntl, "ioctl", FakeCamera().ioctl)
    (camera,) = devices.list_cameras()
    yuyv, mjpeg = camera.formats
    assert (yuyv.pix_fmt, yuyv.description, yuyv.compressed) == ("yuyv422", "YUYV 4:2:2", False)
    assert yuyv.sizes == ("640x480", "1280x720")
    assert yuyv.rates == {"640x480": ("30", "15"), "1280x720": ("29.97",)}
    assert (mjpeg.pix_fmt, mjpeg.compressed, mjpeg.sizes) == ("mjpeg", True, ("32x32-1920x1080",))
    text = " ".join(invoke(*["devices"]).stdout.split())
    assert "yuyv422 raw 640x480 (30, 15 fps), 1280x720 (29.97 fps)" in text
    assert "mjpeg compressed 32x32-1920x1080" in text


@pytest.mark.parametrize("name", ["image", "preview", "transcode", "bench", "serve", "batch"])
def test_help_at_80_columns_cuts_no_word(name):
    """A word wider than the help column is cut with an ellipsis: the method descriptions'
    ADAPTIVE_THRESH_GAUSSIAN_C was."""
    result = invoke(name, "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
