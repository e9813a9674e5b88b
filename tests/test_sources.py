"""Sources: spec parsing, opening errors, zero-copy luma, conversions, range, rotation, pacing."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livethresh.binarize.opencv import article_reference as reference
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError, InputNotFoundError
from livethresh.frames import LumaReader, ProcessedFrame, StreamInfo, over_white, upright_rotation
from livethresh.pipeline import Pipeline
from livethresh.sinks import NullSink
from livethresh.sources import FrameSource, open_source
from livethresh.sources.spec import parse_size, parse_spec
from tests.clips import Coding, Picture, Timing, make_video
from tests.helpers import document_frame, noise_frame

# -- specs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "target", "fmt", "live"),
    [
        ("clip.mp4", "file", "clip.mp4", None, False),
        ("testsrc2", "lavfi", "testsrc2", "lavfi", False),
        ("testsrc2=size=640x480:rate=25", "lavfi", "testsrc2=size=640x480:rate=25", "lavfi", False),
        ("lavfi:mandelbrot", "lavfi", "mandelbrot", "lavfi", False),
        ("rtsp://cam.local/stream", "url", "rtsp://cam.local/stream", None, True),
        ("udp://0.0.0.0:1234", "url", "udp://0.0.0.0:1234", None, True),
        ("http://host/clip.mp4", "url", "http://host/clip.mp4", None, False),
        ("v4l2:/dev/video3", "camera", "/dev/video3", "v4l2", True),
        ("avfoundation:1", "camera", "1", "avfoundation", True),
    ],
)
def test_parse_spec(spec: str, kind: str, target: str, fmt: str | None, live: bool) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.target, parsed.format, parsed.live) == (kind, target, fmt, live)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 naming")
@pytest.mark.parametrize("spec", ["0", "/dev/video0"])
def test_camera_index_is_v4l2_on_linux(spec: str) -> None:
    parsed = parse_spec(spec, size=(1280, 720), rate=30, input_format="mjpeg")
    assert (parsed.kind, parsed.target, parsed.format) == ("camera", "/dev/video0", "v4l2")
    assert parsed.options == {"video_size": "1280x720", "framerate": "30", "input_format": "mjpeg"}


def test_pattern_size_and_rate_are_added_to_the_graph() -> None:
    assert parse_spec("testsrc2", size=(320, 240), rate=15).target == (
        "testsrc2=size=320x240:rate=15"
    )
    assert parse_spec("lavfi:color=c=red", size=(8, 8)).target == "color=size=8x8:c=red"
    with pytest.raises(InputError, match="single lavfi source"):
        parse_spec("lavfi:testsrc2,hflip", size=(8, 8))


def test_a_file_named_like_a_pattern_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "testsrc2").write_bytes(b"")
    assert parse_spec("testsrc2").kind == "file"


def test_parse_size() -> None:
    assert parse_size("1280x720") == (1280, 720)
    for bad in ("1280", "0x5", "axb", "-3x4"):
        with pytest.raises(InputError, match="WIDTHxHEIGHT"):
            parse_size(bad)


# -- opening errors ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="does not exist"):
        open_source(str(tmp_path / "nope.mp4"))


def test_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video at all\n" * 50)
    with pytest.raises(InputError, match="cannot open"):
        open_source(str(path))


@pytest.mark.parametrize("spec", ["lavfi:nosuchfilter", "testsrc2=size=abc"])
def test_bad_noise_frame(spec: str) -> None:
    with pytest.raises(InputError, match="cannot open"):
        open_source(spec)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 device paths")
def test_missing_camera_says_so() -> None:
    if Path("/dev/video9").exists():
        pytest.skip("this machine has a /dev/video9")
    with pytest.raises(InputNotFoundError, match=r"camera '9' \(/dev/video9\) not found"):
        open_source("9")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_stalled_network_stream_times_out_with_a_clear_error(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(InputError, match=r"cannot open 'http://127\.0\.0\.1"):
        open_source(f"http://127.0.0.1:{silent_server}/live.ts", timeout=0.5)
    assert time.monotonic() - started < 20  # not hung: the timeout fired


# -- files -------------------------------------------------------------------------------------


def test_file_info_and_frames_are_exact(tmp_path: Path) -> None:
    lumas = [noise_frame(48, 64, seed) for seed in range(5)]
    path = make_video(tmp_path / "clip.mp4", Picture(lumas=lumas), coding=Coding(lossless=True))
    reader = LumaReader()
    with open_source(str(path)) as source:
        assert isinstance(source, FrameSource)
        info = source.info
        assert (info.width, info.height, info.codec, info.pix_fmt) == (64, 48, "h264", "yuv420p")
        assert info.frame_count == 5 and not info.is_live and info.kind == "file"
        assert info.frame_rate == 30
        out = np.empty((48, 64), np.uint8)
        grays = []
        for frame in source.frames():
            gray = reader(frame, out)
            assert gray is not out and not gray.flags.owndata  # a view of the Y plane
            grays.append(gray.copy())
    assert all(np.array_equal(g, luma) for g, luma in zip(grays, lumas, strict=True))


def test_limited_range_luma_is_kept_as_coded(tmp_path: Path) -> None:
    luma = np.full((32, 64), 16, np.uint8)
    luma[:, 32:] = 235  # video black and video white
    path = make_video(tmp_path / "range.mp4", Picture(lumas=[luma]), coding=Coding(lossless=True))
    with open_source(str(path)) as source:
        frame = next(source.frames())
        gray = LumaReader()(frame, np.empty((32, 64), np.uint8))
        expanded = cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)
    assert np.array_equal(gray, luma)
    # The BGR round trip would have stretched the range to 0..255.
    assert expanded[:, :32].max() <= 2 and expanded[:, 32:].min() >= 253


@pytest.mark.parametrize(("matrix_angle", "clockwise"), [(-90, 90), (180, 180), (90, 270)])
def test_rotation_metadata_turns_frames_upright(
    tmp_path: Path, matrix_angle: int, clockwise: int
) -> None:
    luma = np.full((32, 64), 30, np.uint8)
    luma[:8, :8] = 220  # a mark in the coded top-left corner
    path = make_video(
        tmp_path / "phone.mp4",
        Picture(lumas=[luma, luma]),
        coding=Coding(lossless=True, rotation=matrix_angle),
    )
    with open_source(str(path)) as source:
        info = source.info
        assert info.rotation == clockwise
        frame = next(source.frames())
        assert upright_rotation(frame) == clockwise
        shape = LumaReader.shape(frame)
        assert (info.height, info.width) == shape
        gray = LumaReader()(frame, np.empty(shape, np.uint8))
    assert np.array_equal(gray, np.rot90(luma, k=-clockwise // 90))  # rot90 turns anticlockwise


def test_resolution_change_mid_stream(tmp_path: Path) -> None:
    # Two MPEG-TS files joined byte by byte are one valid stream whose size changes.
    big = make_video(
        tmp_path / "a.ts",
        Picture(lumas=[noise_frame(48, 64, s) for s in range(3)]),
        coding=Coding(lossless=True),
        fmt="mpegts",
    )
    small = make_video(
        tmp_path / "b.ts",
        Picture(lumas=[noise_frame(24, 32, s) for s in range(3)]),
        coding=Coding(lossless=True),
        fmt="mpegts",
    )
    joined = tmp_path / "joined.ts"
    joined.write_bytes(big.read_bytes() + small.read_bytes())
    shapes: list[tuple[int, ...]] = []

    class Shapes(NullSink):
        def write(self, frame: ProcessedFrame) -> None:
            super().write(frame)
            shapes.append(frame.mask.shape)
            assert np.array_equal(frame.mask, reference(frame.gray, ThresholdConfig()))

    with open_source(str(joined)) as source:
        Pipeline(source, Shapes(), ThresholdConfig()).run()
    assert (48, 64) in shapes and (24, 32) in shapes
    assert shapes == sorted(shapes, reverse=True)


def test_live_file_is_paced_at_its_frame_rate(tmp_path: Path) -> None:
    path = make_video(
        tmp_path / "clip.mp4",
        Picture(lumas=[noise_frame(16, 16, s) for s in range(10)]),
        coding=Coding(lossless=True),
        timing=Timing(fps=50),
    )
    with open_source(str(path), live=True) as source:
        assert source.info.is_live
        started = time.perf_counter()
        count = sum(1 for _ in source.frames())
        paced = time.perf_counter() - started
    assert count == 10
    assert paced >= 0.9 * 9 / 50  # the last frame is due 9 periods after the first


def test_pattern_source_info() -> None:
    with open_source("testsrc2", size=(160, 120), rate=10) as source:
        info = source.info
        assert (info.width, info.height, info.frame_rate, info.kind) == (160, 120, 10, "lavfi")
        assert not info.is_live
        assert next(source.frames()).width == 160
    with open_source("testsrc2=size=160x120", live=True) as source:
        assert source.info.is_live


def test_close_is_idempotent() -> None:
    source = open_source("testsrc2=size=32x32")
    source.close()
    source.close()  # a second close is harmless
    assert list(source.frames()) == []  # and a closed source yields nothing


# -- pixel formats -----------------------------------------------------------------------------

H, W = 33, 63  # odd sizes: every plane has padding at the end of its lines
RNG = np.random.default_rng(7)
LUMA = RNG.integers(0, 256, (H, W), np.uint8)
RGB = RNG.integers(0, 256, (H, W, 3), np.uint8)


FORMATS = {
    # name -> (frame factory, expected gray, whether it must be a zero-copy view)
    "gray": (lambda: av.VideoFrame.from_ndarray(LUMA, format="gray"), LUMA, True),
    "rgb24": (
        lambda: av.VideoFrame.from_ndarray(RGB, format="rgb24"),
        cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY),
        False,
    ),
    "bgr24": (
        lambda: av.VideoFrame.from_ndarray(RGB, format="bgr24"),
        cv2.cvtColor(RGB, cv2.COLOR_BGR2GRAY),
        False,
    ),
    # Formats with alpha are composited over white paper (LUMA is their alpha here).
    "rgba": (
        lambda: av.VideoFrame.from_ndarray(np.dstack([RGB, LUMA]), format="rgba"),
        over_white(cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY), LUMA),
        False,
    ),
    "argb": (
        lambda: av.VideoFrame.from_ndarray(np.dstack([LUMA, RGB]), format="argb"),
        over_white(cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY), LUMA),
        False,
    ),
    "gray16le": (
        lambda: av.VideoFrame.from_ndarray(LUMA.astype(np.uint16) * 257, format="gray16le"),
        LUMA,
        False,
    ),
    "gray10le": (
        lambda: av.VideoFrame.from_ndarray(
            np.round(LUMA * (1023 / 255)).astype(np.uint16), format="gray10le"
        ),
        LUMA,
        False,
    ),
    "gbrp": (
        lambda: av.VideoFrame.from_ndarray(RGB, format="rgb24").reformat(format="gbrp"),
        cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY),
        False,
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_formats_convert_to_the_expected_gray(name: str) -> None:
    factory, expected, is_view = FORMATS[name]
    frame = factory()
    assert frame.format.name == name
    out = np.empty((H, W), np.uint8)
    gray = LumaReader()(frame, out)
    assert gray.shape == (H, W) and gray.dtype == np.uint8
    assert np.array_equal(gray, expected)
    assert (gray is not out) == is_view


def test_an_image_sequence_with_text_in_its_alpha_channel_reads_as_text(tmp_path) -> None:
    """Black text on transparency: the colour is black everywhere and the text is in the alpha
    channel; without compositing over white every frame was uniformly black."""
    page = document_frame(48, 64)
    for index in range(3):
        black = np.zeros_like(page)
        cv2.imwrite(str(tmp_path / f"{index:04d}.png"), cv2.merge([black] * 3 + [255 - page]))
    reader = LumaReader()
    with open_source(str(tmp_path / "%04d.png")) as source:
        frames = list(source.frames())
        assert len(frames) == 3
        for frame in frames:
            gray = reader(frame, np.empty((48, 64), np.uint8))
            assert np.abs(gray.astype(int) - page).max() <= 1


@pytest.mark.parametrize(
    "fmt",
    [
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuv444p",
        "nv12",
        "nv21",
        "yuv420p10le",
        "yuv422p10le",
        "p010le",
        "yuyv422",
        "uyvy422",
    ],
)
def test_yuv_formats_give_their_luma_as_coded(fmt: str) -> None:
    y = RNG.integers(16, 236, (34, 64), np.uint8)
    source = av.VideoFrame.from_ndarray(
        np.concatenate([y, np.full((17, 64), 128, np.uint8)]), format="yuv420p"
    )
    # swscale keeps luma when only the chroma layout or the bit depth changes; yuvj420p is the
    # same layout flagged full range, which swscale would stretch, so it is built directly.
    if fmt in ("yuv420p", "yuvj420p"):
        frame = av.VideoFrame.from_ndarray(source.to_ndarray(), format=fmt)
    else:
        frame = source.reformat(format=fmt)
    out = np.empty((34, 64), np.uint8)
    gray = LumaReader()(frame, out)
    assert np.array_equal(gray, y)
    assert (gray is not out) == (
        frame.format.components[0].bits == 8 and fmt not in ("yuyv422", "uyvy422")
    )


def test_paletted_frames_map_their_palette_like_cvtcolor() -> None:
    indices = RNG.integers(0, 256, (H, W), np.uint8)
    palette = RNG.integers(0, 256, (256, 4), np.uint8)
    frame = av.VideoFrame.from_ndarray((indices, palette), format="pal8")
    expected = cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY)
    expected = over_white(expected, frame.to_ndarray(format="rgba")[..., 3])  # over white paper
    assert np.array_equal(LumaReader()(frame, np.empty((H, W), np.uint8)), expected)


def test_numpy_frames_are_accepted() -> None:
    reader, out = LumaReader(), np.empty((H, W), np.uint8)
    assert reader(LUMA, out) is LUMA
    bgr = RGB[:, :, ::-1].copy()
    assert np.array_equal(reader(bgr, out), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    with pytest.raises(InputError, match="uint8"):
        reader(LUMA.astype(np.float32), out)


def test_stream_info_keeps_its_original_fields() -> None:
    info = StreamInfo("x", 4, 3)
    assert (info.frame_rate, info.is_live, info.rotation, info.pix_fmt) == (None, False, 0, "")
