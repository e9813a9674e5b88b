"""``livethresh image`` and ``demo`` end to end, through typer's runner: outputs, depths,
alpha, and what is refused in one line (damaged headers, costly settings, formats, presets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livethresh import ThresholdConfig
from livethresh.errors import OutputError
from livethresh.images import binarize_image
from tests.helpers import assert_one_line, document_frame, invoke, noise_frame, one_line


@pytest.fixture
def photo(tmp_path):
    """A color photo of a page, written as PNG."""
    gray = document_frame(240, 320)
    bgr = cv2.merge([gray, (gray * 0.9).astype(np.uint8), gray])
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), bgr)
    return path


def article_mask(path, block=11, c=2.0, method=cv2.ADAPTIVE_THRESH_GAUSSIAN_C, blur=7):
    gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(gray, (blur, blur), 0) if blur else gray
    return cv2.adaptiveThreshold(blurred, 255, method, cv2.THRESH_BINARY, block, c)


def test_image_equals_the_article_code(photo, tmp_path):
    out = tmp_path / "mask.png"
    result = invoke("image", photo, out)
    assert result.exit_code == 0, result.output
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), article_mask(photo))


def test_options_and_negative_offset(photo, tmp_path):
    out = tmp_path / "mask.bmp"
    result = invoke(
        "image", photo, out, "--method", "mean", "--block-size", "25", "-C", "-4", "--blur", "0"
    )
    assert result.exit_code == 0, result.output
    want = article_mask(photo, 25, -4, cv2.ADAPTIVE_THRESH_MEAN_C, blur=0)
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), want)


def test_preset_with_override(photo, tmp_path):
    out, preset = tmp_path / "m.png", tmp_path / "page.toml"
    preset.write_text('method = "gaussian"\nblock_size = 31\nc = 10.0\nblur = 3\ninvert = true\n')
    assert (
        invoke("image", photo, out, "--preset", preset, "--no-invert", "--offset", "3").exit_code
        == 0
    )
    want = article_mask(photo, 31, 3, blur=3)
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), want)


def test_output_format_follows_extension(photo, tmp_path):
    for ext in (".png", ".jpg", ".tif", ".bmp"):
        out = tmp_path / f"m{ext}"
        assert invoke("image", photo, out).exit_code == 0
        assert cv2.imread(str(out), cv2.IMREAD_GRAYSCALE) is not None


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["{missing}", "{out}"], "does not exist"),
        (["{tmp}", "{out}"], "is a directory"),
        (["{text}", "{out}"], "not an image OpenCV can decode"),
        (["{empty}", "{out}"], "not an image OpenCV can decode"),
        (["{photo}", "{tmp}/no/such/dir/m.png"], "does not exist; create it first"),
        (["{photo}", "{tmp}/m.xyz"], "cannot write a gray mask as '.xyz'; use .png"),
        (["{photo}", "{out}", "--block-size", "4"], "invalid block_size 4"),
        (["{photo}", "{out}", "--blur", "2"], "invalid blur 2"),
        (["{photo}", "{out}", "--method", "magic"], "invalid method 'magic'"),
        (["{photo}", "{out}", "--preset", "nope"], "unknown preset 'nope'"),
        (["{photo}", "{out}", "--despeckle", "²"], "invalid despeckle '²'"),
        (["{photo}", "{out}", "--despeckle", "9" * 400], "invalid despeckle '99999"),
        (["{photo}", "{out}", "-m", "su", "--min-edges", "9" * 400], "invalid min_edges 9999"),
        (["{photo}", "{out}", "--preset", "{strange}"], "invalid despeckle '٣'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, text, photo, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "strange.toml").write_text('despeckle = "٣"\n', encoding="utf-8")
    values = {
        "strange": tmp_path / "strange.toml",
        "missing": tmp_path / "missing.png",
        "out": tmp_path / "out.png",
        "tmp": tmp_path,
        "text": tmp_path / "notes.txt",
        "empty": tmp_path / "empty.png",
        "photo": photo,
    }
    result = invoke("image", *[a.format(**values) for a in args])
    assert_one_line(result.stderr, result.exit_code, 2, text)
    assert not (tmp_path / "out.png").exists()


def test_existing_output_needs_overwrite(photo, tmp_path):
    out = tmp_path / "m.png"
    out.write_bytes(b"keep me")
    refused = invoke("image", photo, out)
    assert_one_line(refused.stderr, refused.exit_code, 2, "pass -y/--overwrite")
    assert out.read_bytes() == b"keep me"
    assert invoke("image", photo, out, "-y").exit_code == 0
    assert cv2.imread(str(out)) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png", "page.png"]  # no temp left


def test_output_that_is_the_input_is_refused(photo, tmp_path, monkeypatch):
    before = photo.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    monkeypatch.chdir(tmp_path)
    for target in (photo, link, "page.png", "./sub/../page.png"):
        os.makedirs(tmp_path / "sub", exist_ok=True)
        refused = invoke("image", photo, target, "-y")
        assert_one_line(refused.stderr, refused.exit_code, 2, "is the input file")
    assert photo.read_bytes() == before


def test_version_and_help():
    result = invoke("--version")
    assert result.exit_code == 0 and "livethresh" in result.stdout
    assert "--block-size" in invoke("image", "--help").stdout


def test_demo_writes_the_comparison_and_binarized_clips(tmp_path):
    result = invoke("demo", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    comparison = cv2.imread(str(tmp_path / "demo" / "comparison.png"), cv2.IMREAD_GRAYSCALE)
    page = cv2.imread(str(tmp_path / "demo" / "page.png"), cv2.IMREAD_GRAYSCALE)
    assert comparison.shape[1] > 3 * page.shape[1]
    for name in ("comparison.png", "clip.mp4", "clip-binarized.mp4", "Try next"):
        assert name in result.stdout
    # Each line says what it is: no label stands for two different things.
    labels = [line.split(":")[0] for line in result.stdout.splitlines() if ":" in line]
    assert len(labels) == len(set(labels)), labels
    with av.open(str(tmp_path / "demo" / "clip.mp4")) as clip:
        frames_in = sum(1 for _ in clip.decode(video=0))
    with av.open(str(tmp_path / "demo" / "clip-binarized.mp4")) as out:
        masks = [f.to_ndarray(format="gray") for f in out.decode(video=0)]
    assert len(masks) == frames_in == 90
    # Binary content survives the encoder: nearly every pixel is near 0 or 255.
    near_binary = np.mean((masks[45] < 40) | (masks[45] > 215))
    assert near_binary > 0.97
    # The stabilized clip beside it flickers less and is smaller, and both figures are shown.
    from livethresh.demo import clip_flicker

    binarized, stabilized = (
        tmp_path / "demo" / "clip-binarized.mp4",
        tmp_path / "demo" / "clip-stabilized.mp4",
    )
    assert clip_flicker(stabilized) < 0.8 * clip_flicker(binarized)
    assert stabilized.stat().st_size < 0.8 * binarized.stat().st_size
    assert "clip-stabilized.mp4" in result.stdout
    assert result.stdout.count("of pixels change per frame") == 2
    assert result.stdout.count(" KiB") >= 2


def test_output_gets_the_usual_file_permissions(photo, tmp_path):
    out = tmp_path / "m.png"
    assert invoke("image", photo, out).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def png_gray_alpha(path, gray, alpha):
    """Write an 8-bit gray + alpha PNG (colour type 4), which OpenCV cannot write itself."""
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    height, width = gray.shape
    rows = np.dstack([gray, alpha]).reshape(height, width * 2)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("layout", ["bgra", "gray-alpha"])
def test_text_drawn_in_the_alpha_channel_is_composited_over_white(layout, tmp_path):
    """Black text on a transparent background: its color is black everywhere, the text is in
    the alpha channel. Read without alpha the page was uniform and the mask empty."""
    page = document_frame(240, 320)
    alpha = (255 - page).astype(np.uint8)  # opaque where the ink is
    path = tmp_path / "text.png"
    if layout == "bgra":
        cv2.imwrite(str(path), cv2.merge([np.zeros_like(page)] * 3 + [alpha]))
    else:
        png_gray_alpha(path, np.zeros_like(page), alpha)
    out, expected = tmp_path / "mask.png", tmp_path / "expected.png"
    opaque = tmp_path / "opaque.png"
    cv2.imwrite(str(opaque), page)  # the same page, drawn on white
    assert invoke("image", path, out, "--preset", "document").exit_code == 0
    assert invoke("image", opaque, expected, "--preset", "document").exit_code == 0
    mask = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert 0.02 < (mask == 0).mean() < 0.5
    agree = (mask == cv2.imread(str(expected), cv2.IMREAD_GRAYSCALE)).mean()
    assert agree > 0.99


def test_12_bit_data_in_a_16_bit_png_keeps_its_text_and_says_so(photo, tmp_path):
    """Samples 0-4095 read as the top 8 of 16 bits were 0-15: the text was lost in silence."""
    gray = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2GRAY)
    twelve = tmp_path / "twelve.png"
    cv2.imwrite(str(twelve), (gray.astype(np.uint16) << 4) | (gray.astype(np.uint16) >> 4))
    out = tmp_path / "mask.png"
    result = invoke("image", twelve, out)
    assert result.exit_code == 0, result.output
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), article_mask(photo))
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "fit in 12 bits: read as 12-bit data" in lines[0]
    full = tmp_path / "sixteen.png"  # the full 16-bit range: as before, and no warning
    cv2.imwrite(str(full), gray.astype(np.uint16) * 257)
    result = invoke("image", full, out, "-y")
    assert result.exit_code == 0 and not result.stderr.strip()
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), article_mask(photo))


def with_sbit(png: bytes, bits: int) -> bytes:
    """A PNG with an sBIT chunk (gray: one byte) inserted after its header."""
    import struct
    import zlib

    body = bytes([bits])
    chunk = struct.pack(">I", 1) + b"sBIT" + body + struct.pack(">I", zlib.crc32(b"sBIT" + body))
    header_end = 8 + 12 + 13  # signature, then IHDR's length, name, 13 bytes and CRC
    return png[:header_end] + chunk + png[header_end:]


def test_a_png_sbit_chunk_sets_the_depth_without_a_warning(photo, tmp_path):
    gray = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2GRAY)
    twelve = (gray.astype(np.uint16) << 4) | (gray.astype(np.uint16) >> 4)
    out = tmp_path / "mask.png"
    for name, samples in (("unscaled", twelve), ("scaled", twelve << 4)):
        path = tmp_path / f"{name}.png"
        path.write_bytes(with_sbit(cv2.imencode(".png", samples)[1].tobytes(), 12))
        result = invoke("image", path, out, "-y")
        assert result.exit_code == 0 and not result.stderr.strip(), result.stderr
        assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), article_mask(photo))


# -- refused in one line: damaged headers, costly settings, unwritable formats, presets --------


def test_image_whose_header_claims_a_huge_size(tmp_path: Path) -> None:
    """A damaged BMP header (found by the fuzzer) made OpenCV raise instead of refusing."""
    page = tmp_path / "page.bmp"
    cv2.imwrite(str(page), noise_frame(48, 64))
    data = bytearray(page.read_bytes())
    data[22:26] = (2**31 - 1).to_bytes(4, "little")  # biHeight
    page.write_bytes(bytes(data))
    result = invoke("image", page, tmp_path / "mask.png")
    assert_one_line(result.stderr, result.exit_code, 2, "is not an image OpenCV can decode")
    assert not (tmp_path / "mask.png").exists()


def test_a_png_cut_inside_its_header_is_one_line(tmp_path: Path) -> None:
    """A PNG cut before the bytes that say its depth and alpha (found by the fuzzer) raised an
    IndexError."""
    whole = tmp_path / "whole.png"
    cv2.imwrite(str(whole), noise_frame(48, 64))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:20])
    result = invoke("image", cut, tmp_path / "mask.png")
    assert_one_line(result.stderr, result.exit_code, 2, "is not an image OpenCV can decode")
    assert not (tmp_path / "mask.png").exists()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), document_frame(120, 160))
    return path


@pytest.mark.parametrize(
    ("args", "limit"),
    [
        (["--blur", "10001"], "1 to 63"),
        (["-b", "10001"], "from 3 to 255 with gaussian, whose cost grows"),
    ],
)
def test_costly_settings_are_refused_with_their_limit(
    page: Path, tmp_path: Path, args: list[str], limit: str
) -> None:
    line = one_line(invoke("image", page, tmp_path / "mask.png", *args))
    assert limit in line
    assert not (tmp_path / "mask.png").exists()


def test_help_states_the_limits() -> None:
    # The help is drawn in boxes and wrapped: compare its words.
    text = " ".join(invoke("image", "--help").stdout.replace("│", " ").split())
    assert "1 to 63" in text and "3 to 1001" in text and "gaussian: to 255" in text


def test_library_errors_name_the_argument_and_the_cli_its_flag(page: Path, tmp_path: Path) -> None:
    out = tmp_path / "mask.png"
    binarize_image(page, out, ThresholdConfig())
    with pytest.raises(OutputError, match=r"already exists; pass overwrite=True to replace it"):
        binarize_image(page, out, ThresholdConfig())
    line = one_line(invoke("image", page, out))
    assert line.endswith("already exists; pass -y/--overwrite to replace it")


def test_an_unsupported_image_extension_is_refused_up_front_in_one_line(
    page: Path, tmp_path: Path
) -> None:
    """OpenCV has a GIF writer that cannot take a gray mask: refused before reading, quietly."""
    result = invoke("image", page, tmp_path / "x.gif")
    line = one_line(result)
    assert "cannot write a gray mask as '.gif'; use .png" in line
    assert "[ERROR" not in result.output and not (tmp_path / "x.gif").exists()
    result = invoke("image", tmp_path / "missing.png", tmp_path / "x.gif")
    assert "'.gif'" in one_line(result)  # the output is checked before the input is read


def test_opencv_prints_nothing_of_its_own_in_a_real_process(page: Path, tmp_path: Path) -> None:
    """OpenCV logs from C++ straight to fd 2, which only a real process shows."""
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-m", "livethresh", "image", str(page), str(tmp_path / "x.gif")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "livethresh: error: cannot write a gray mask as '.gif'; use .png, .tif, .bmp, .webp or .pgm"
    ]


def test_a_preset_that_is_a_directory_says_so(page: Path, tmp_path: Path) -> None:
    line = one_line(invoke("image", page, tmp_path / "m.png", "--preset", tmp_path))
    assert f"preset {str(tmp_path)!r} is a directory" in line
