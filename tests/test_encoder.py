"""EncoderSink: containers, exact masks, timestamps, odd, tiny and huge sizes, rotation, side by
side, and its guards."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange

from livethresh.encode.containers import container_accepts
from livethresh.encode.plan import EncodeSettings, padded_size, plan_encoding
from livethresh.errors import ConfigError, OutputError
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.sinks import FrameSink
from livethresh.sinks.encoder import EncoderSink
from tests.clips import Coding, Picture, make_video, video_frames
from tests.helpers import assert_one_line, document_frame, invoke, noise_frame

MS = Fraction(1, 1000)
#: Irregular gaps in ms: a variable frame rate that must survive encoding.
VFR_PTS = [0, 33, 66, 140, 150, 183, 300, 333, 366, 400, 500, 533]
LOSSLESS = EncodeSettings(codec="ffv1")


def masks(height: int, width: int, count: int) -> list[np.ndarray]:
    """Distinct binary masks (a moving document page), so a mixed-up frame is detected."""
    page = document_frame(height + count, width + count, seed=3)
    return [
        np.where(page[i : i + height, i : i + width] > 128, 255, 0).astype(np.uint8)
        for i in range(count)
    ]


def encode(
    target: str | Path | io.BytesIO,
    settings: EncodeSettings,
    frames: list[np.ndarray],
    pts: list[int | None] | None = None,
    *,
    reuse_buffers: bool = True,
    info_size: tuple[int, int] | None = None,
) -> EncoderSink:
    """Feed masks to a sink the way the pipeline does: one pooled buffer, reused after write."""
    height, width = info_size or frames[0].shape
    sink = EncoderSink(target, settings)
    sink.open(StreamInfo("test", width, height, Fraction(30), MS))
    slots: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    for index, mask in enumerate(frames):
        if reuse_buffers:
            gray, out = slots.setdefault(mask.shape, (np.empty_like(mask), np.empty_like(mask)))
            np.copyto(out, mask)
            np.copyto(gray, 255 - mask)
        else:
            gray, out = 255 - mask, mask.copy()
        stamp = pts[index] if pts is not None else index * 33
        sink.write(ProcessedFrame(index, gray, out, None, pts=stamp, time_base=MS))
        if reuse_buffers:  # the pipeline recycles the slot as soon as write returns
            out.fill(7)
            gray.fill(7)
    sink.close()
    return sink


def decode(source: str | Path | io.BytesIO) -> tuple[list[av.VideoFrame], av.VideoStream]:
    if isinstance(source, io.BytesIO):
        source.seek(0)
    container = av.open(source)
    stream = container.streams.video[0]
    frames = list(container.decode(stream))
    container.close()
    return frames, stream


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    data = frame.planes[index]
    return np.frombuffer(data, np.uint8).reshape(-1, data.line_size)[: data.height, : data.width]


def luma(frame: av.VideoFrame) -> np.ndarray:
    return plane(frame, 0)


def test_is_a_frame_sink() -> None:
    assert isinstance(EncoderSink("x.mp4"), FrameSink)


def test_ffv1_is_exact_with_variable_timestamps(tmp_path: Path) -> None:
    sources = masks(64, 96, len(VFR_PTS))
    out = tmp_path / "exact.mkv"
    sink = encode(out, LOSSLESS, sources, VFR_PTS)
    frames, stream = decode(out)
    assert sink.frames == len(frames) == len(sources)
    assert stream.codec_context.name == "ffv1" and frames[0].format.name == "gray"
    for frame, mask in zip(frames, sources, strict=True):
        np.testing.assert_array_equal(frame.to_ndarray(), mask)
    times = [round(float(f.pts * f.time_base) * 1000) for f in frames]
    assert times == VFR_PTS


def test_default_is_h264_yuv420p_mp4_and_keeps_vfr(tmp_path: Path) -> None:
    sources = masks(64, 96, len(VFR_PTS))
    out = tmp_path / "out.mp4"
    encode(out, EncodeSettings(), sources, VFR_PTS)
    container = av.open(out)
    assert container.format.name.startswith("mov,mp4")
    container.close()
    frames, stream = decode(out)
    assert stream.codec_context.name == "h264"
    assert frames[0].format.name in ("yuv420p", "yuvj420p")
    assert len(frames) == len(sources)
    times = [float(f.pts * f.time_base) * 1000 for f in frames]
    assert times == pytest.approx(VFR_PTS, abs=1)
    for frame, mask in zip(frames, sources, strict=True):
        agree = np.mean((luma(frame) > 127) == (mask > 127))
        assert agree > 0.97
        # Chroma is neutral: the output is black and white.
        assert np.abs(frame.to_ndarray(format="yuv444p")[1:].astype(int) - 128).max() <= 3


@pytest.mark.parametrize(
    ("name", "settings"), [("out.mp4", EncodeSettings()), ("out.mkv", LOSSLESS)]
)
def test_packets_keep_the_input_frame_durations(
    tmp_path: Path, name: str, settings: EncodeSettings
) -> None:
    """Sparse frames (average rate 0.2 fps): the output ends one input frame after the last."""
    stamps = [0, 33, 66, 140, 150, 183, 40000]
    sources = masks(32, 48, len(stamps))
    out = tmp_path / name
    sink = EncoderSink(out, settings)
    sink.open(StreamInfo("test", 48, 32, Fraction(len(stamps) * 1000, 40033), MS))
    for index, (stamp, mask) in enumerate(zip(stamps, sources, strict=True)):
        decoded = av.VideoFrame(48, 32, "yuv420p")
        decoded.pts, decoded.time_base, decoded.duration = stamp, MS, 33
        sink.write(ProcessedFrame(index, mask, mask, decoded, pts=stamp, time_base=MS))
    sink.close()
    with av.open(out) as container:
        assert container.duration / 1e6 == pytest.approx(40.033, abs=0.002)
        last = [p for p in container.demux(video=0) if p.size][-1]
    # (mp4 derives the other samples' durations from the gaps between them.)
    assert float(last.duration * last.time_base) == pytest.approx(0.033, abs=1e-3)


@pytest.mark.parametrize(("pix_fmt", "size"), [("yuv420p", (98, 66)), ("gray", (97, 65))])
def test_odd_size_is_padded_only_for_subsampled_chroma(
    tmp_path: Path, pix_fmt: str, size: tuple[int, int]
) -> None:
    sources = masks(65, 97, 3)
    out = tmp_path / "odd.mkv"
    encode(out, EncodeSettings(codec="ffv1", pix_fmt=pix_fmt), sources)
    frames, _ = decode(out)
    assert (frames[0].width, frames[0].height) == size
    picture = luma(frames[1])
    np.testing.assert_array_equal(picture[:65, :97], sources[1])
    # Padding repeats the last column and row, so no stripe appears at the edge.
    np.testing.assert_array_equal(picture[:, size[0] - 1], picture[:, 96])
    np.testing.assert_array_equal(picture[size[1] - 1], picture[64])


def test_padded_size() -> None:
    assert padded_size(321, 241, "yuv420p") == (322, 242)
    assert padded_size(321, 241, "yuv422p") == (322, 241)
    assert padded_size(321, 241, "gray") == (321, 241)
    assert padded_size(320, 240, "yuv420p") == (320, 240)


def test_side_by_side_puts_input_left_and_mask_right(tmp_path: Path) -> None:
    sources = masks(64, 96, 4)
    out = tmp_path / "sbs.mkv"
    encode(out, EncodeSettings(codec="ffv1", side_by_side=True), sources)
    frames, _ = decode(out)
    assert (frames[0].width, frames[0].height) == (192, 64)
    for frame, mask in zip(frames, sources, strict=True):
        picture = frame.to_ndarray()
        np.testing.assert_array_equal(picture[:, :96], 255 - mask)
        np.testing.assert_array_equal(picture[:, 96:], mask)


def test_side_by_side_keeps_the_input_colors(tmp_path: Path) -> None:
    """With a decoded frame at hand, the left half gets the input's chroma."""
    color = np.zeros((64, 96, 3), np.uint8)
    color[..., 0] = 200  # red: rgb24 channel 0
    source = av.VideoFrame.from_ndarray(color, format="rgb24").reformat(format="yuv420p")
    mask = np.full((64, 96), 255, np.uint8)
    out = tmp_path / "color.mkv"
    sink = EncoderSink(out, EncodeSettings(codec="ffv1", pix_fmt="yuv420p", side_by_side=True))
    sink.open(StreamInfo("test", 96, 64, Fraction(30), MS))
    sink.write(ProcessedFrame(0, luma(source).copy(), mask, source, pts=0, time_base=MS))
    sink.close()
    frames, _ = decode(out)
    yuv = frames[0].to_ndarray(format="yuv444p")
    assert abs(int(yuv[2, 32, 20]) - 128) > 40  # V of red, far from neutral
    assert abs(int(yuv[2, 32, 150]) - 128) <= 1  # the mask half stays neutral


@pytest.mark.parametrize(
    ("pix_fmt", "color_range", "limited"),
    [
        ("yuv420p", ColorRange.MPEG, True),
        ("yuv420p", ColorRange.UNSPECIFIED, True),  # unspecified YUV means limited
        ("yuv420p", ColorRange.JPEG, False),
        ("yuvj420p", ColorRange.UNSPECIFIED, False),
    ],
)
def test_side_by_side_input_half_is_full_range(
    tmp_path: Path, pix_fmt: str, color_range: int, limited: bool
) -> None:
    """The output is flagged full range, so a limited-range input is stretched on the way in;
    the mask half stays exact. The odd width shares the last chroma column with the mask."""
    width, height = 97, 64
    coded = np.array([16, 126, 235], np.uint8)
    source = av.VideoFrame(width, height, pix_fmt)
    source.color_range = color_range
    plane(source, 0)[:] = coded[np.arange(width) % 3]
    plane(source, 1)[:], plane(source, 2)[:] = 90, 240
    mask = masks(height, width, 1)[0]
    out = tmp_path / "range.mkv"
    sink = EncoderSink(out, EncodeSettings(codec="ffv1", pix_fmt="yuv420p", side_by_side=True))
    sink.open(StreamInfo("test", width, height, Fraction(30), MS))
    sink.write(ProcessedFrame(0, plane(source, 0).copy(), mask, source, pts=0, time_base=MS))
    sink.close()
    frames, _ = decode(out)
    (decoded,) = frames
    assert decoded.color_range == ColorRange.JPEG
    full = np.array([0, 128, 255] if limited else coded, np.uint8)
    expected = np.broadcast_to(full[np.arange(width) % 3], (height, width))
    np.testing.assert_array_equal(luma(decoded)[:height, :width], expected)
    np.testing.assert_array_equal(luma(decoded)[:height, width:], mask)
    chroma_cols = (width + 1) // 2  # 49: the last one covers the input's last pixel too
    u, v = plane(decoded, 1), plane(decoded, 2)
    assert (u[:, :chroma_cols] == (85 if limited else 90)).all()
    assert (v[:, :chroma_cols] == (255 if limited else 240)).all()
    assert (u[:, chroma_cols:] == 128).all() and (v[:, chroma_cols:] == 128).all()


def test_buffers_reused_after_write_do_not_leak_into_the_output(tmp_path: Path) -> None:
    """Frame-threaded ffv1 holds pictures; every decoded frame must still be its own mask."""
    sources = masks(48, 64, 16)
    out = tmp_path / "threads.mkv"
    encode(out, EncodeSettings(codec="ffv1", threads=2, options={"slices": "4"}), sources)
    frames, _ = decode(out)
    for frame, mask in zip(frames, sources, strict=True):
        np.testing.assert_array_equal(frame.to_ndarray(), mask)


def test_resolution_change_is_scaled_to_the_first_size(tmp_path: Path) -> None:
    sources = masks(64, 96, 3) + masks(32, 48, 3) + masks(64, 96, 2)
    out = tmp_path / "resize.mkv"
    encode(out, LOSSLESS, sources)
    frames, _ = decode(out)
    assert len(frames) == len(sources)
    assert {(f.width, f.height) for f in frames} == {(96, 64)}
    scaled = frames[3].to_ndarray()
    assert set(np.unique(scaled)) <= {0, 255}  # nearest-neighbour keeps it binary
    np.testing.assert_array_equal(scaled[::2, ::2], sources[3])


def test_missing_or_repeated_pts_become_the_next_tick(tmp_path: Path) -> None:
    sources = masks(32, 48, 5)
    out = tmp_path / "pts.mkv"
    encode(out, LOSSLESS, sources, [0, None, 33, 33, 10])
    frames, _ = decode(out)
    assert len(frames) == 5
    times = [round(float(f.pts * f.time_base) * 1000) for f in frames]
    assert times == sorted(set(times))  # strictly increasing
    assert times[0] == 0 and times[2] == 66


@pytest.mark.parametrize(
    ("name", "settings", "codec"),
    [
        ("out.webm", EncodeSettings(), "vp8"),
        ("out.ts", EncodeSettings(), "h264"),
        ("out.mov", EncodeSettings(codec="mjpeg"), "mjpeg"),
        ("out.avi", EncodeSettings(), "h264"),
        ("out.y4m", EncodeSettings(format="yuv4mpegpipe"), "rawvideo"),
        ("out.mkv", EncodeSettings(pix_fmt="yuv420p10le"), "h264"),
    ],
)
def test_containers_and_formats(
    tmp_path: Path, name: str, settings: EncodeSettings, codec: str
) -> None:
    sources = masks(64, 96, 5)
    encode(tmp_path / name, settings, sources)
    frames, stream = decode(tmp_path / name)
    assert stream.codec_context.name == codec
    assert len(frames) == len(sources)
    gray = frames[-1].to_ndarray(format="gray")[:64, :96]
    assert np.mean((gray > 127) == (sources[-1] > 127)) > 0.95


def test_streamable_container_into_a_file_object() -> None:
    buffer = io.BytesIO()
    encode(buffer, EncodeSettings(format="matroska"), masks(64, 96, 4))
    frames, _ = decode(io.BytesIO(buffer.getvalue()))
    assert len(frames) == 4


def test_close_is_idempotent_and_write_after_close_fails(tmp_path: Path) -> None:
    never_opened = EncoderSink(tmp_path / "never.mp4")
    never_opened.close()
    never_opened.close()
    assert not (tmp_path / "never.mp4").exists()
    sink = encode(tmp_path / "twice.mkv", LOSSLESS, masks(32, 48, 2))
    sink.close()
    frame = ProcessedFrame(9, masks(32, 48, 1)[0], masks(32, 48, 1)[0], pts=999, time_base=MS)
    with pytest.raises(OutputError, match="after close"):
        sink.write(frame)


@pytest.mark.parametrize(
    ("target", "settings", "error", "message"),
    [
        ("out.xyz", EncodeSettings(), OutputError, "extension"),
        ("out.webm", EncodeSettings(codec="libx264"), ConfigError, "cannot hold"),
        ("out.mp4", EncodeSettings(pix_fmt="rgb48"), ConfigError, "pixel format"),
        ("-", EncodeSettings(format="mp4"), OutputError, "stdout"),
        ("out.mkv", EncodeSettings(codec="ffv1", crf=3), ConfigError, "no --crf"),
        (
            "out.mkv",
            EncodeSettings(codec="ffv1", preset="fast"),
            ConfigError,
            "no --encoder-preset",
        ),
        ("out.mp4", EncodeSettings(codec="nosuch"), ConfigError, "unknown video encoder"),
        ("out.mp4", EncodeSettings(codec="aac"), ConfigError, "not a video encoder"),
        ("out.mp4", EncodeSettings(crf=99), ConfigError, "crf"),
        ("out.mp4", EncodeSettings(format="nosuchformat"), OutputError, "unknown output format"),
        ("ftp://host/x", EncodeSettings(), OutputError, "scheme"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(
    tmp_path: Path, target: str, settings: EncodeSettings, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan_encoding(target if "://" in target or target == "-" else tmp_path / target, settings)
    assert list(tmp_path.iterdir()) == []


def test_outputs_pick_their_container() -> None:
    assert plan_encoding("-", EncodeSettings()).format == "mpegts"
    assert plan_encoding("-", EncodeSettings()).target == "pipe:1"
    assert plan_encoding("udp://127.0.0.1:1234", EncodeSettings()).format == "mpegts"
    assert plan_encoding("rtmp://host/live/key", EncodeSettings()).format == "flv"
    assert plan_encoding("srt://host:9000", EncodeSettings()).format == "mpegts"
    assert plan_encoding("a.MKV", EncodeSettings()).format == "matroska"
    assert plan_encoding("a.mkv", EncodeSettings(codec="ffv1")).pix_fmt == "gray"
    assert container_accepts("mpegts", "aac") and not container_accepts("webm", "aac")
    assert container_accepts("mp4", "aac") and not container_accepts("webm", "pcm_s16le")


# -- through the transcode command: rotation, tiny and huge frames, containers -----------------


def test_rotation_metadata_gives_upright_output(tmp_path: Path) -> None:
    # Coded 64x48 with a display matrix of 90 degrees: it is shown (and binarized) as 48x64.
    source = make_video(
        tmp_path / "phone.mp4",
        Picture(lumas=[noise_frame(48, 64, s) for s in range(4)]),
        coding=Coding(lossless=True, rotation=90),
    )
    out = tmp_path / "upright.mkv"
    result = invoke("transcode", source, out, "--codec", "ffv1")
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (48, 64)
    assert frames[0].rotation == 0


@pytest.mark.parametrize(
    ("size", "encoded"), [((2, 2), (2, 2)), ((1, 1), (2, 2)), ((3, 2), (4, 2))]
)
def test_frames_down_to_1x1_are_transcoded_padded_to_an_even_size(
    tmp_path: Path, size: tuple[int, int], encoded: tuple[int, int]
) -> None:
    source = make_video(
        tmp_path / "tiny.mkv",
        Picture(size=size, frames=5),
        coding=Coding(codec="ffv1", pix_fmt="gray"),
    )
    out = tmp_path / "tiny.mp4"
    result = invoke("transcode", source, out, "--json")
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == encoded
    assert json.loads(invoke("bench", source, "--json").stdout)["frames"] == 5


@pytest.mark.slow
def test_8k_frames_are_transcoded_at_full_size(tmp_path: Path) -> None:
    width, height = 7680, 4320
    source = tmp_path / "8k.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        for index in range(2):
            gray = np.tile(noise_frame(270, 480, index), (16, 16))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(gray, format="gray")))
        container.mux(stream.encode(None))
    out = tmp_path / "8k.mp4"
    result = invoke("transcode", source, out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 2
    frames = video_frames(out)
    assert len(frames) == 2 and (frames[0].width, frames[0].height) == (width, height)


def test_output_codec_the_container_cannot_hold(clip: Path, tmp_path: Path) -> None:
    result = invoke("transcode", clip, tmp_path / "masks.ts", "--codec", "ffv1")
    assert_one_line(
        result.stderr,
        result.exit_code,
        2,
        "container 'mpegts' cannot hold 'ffv1' video; choose another codec",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]
