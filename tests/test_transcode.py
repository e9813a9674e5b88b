"""``livethresh transcode`` end to end: audio, timestamps, odd sizes, 10-bit, resolution
changes, output rules, stdout, and signals in a real subprocess."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from livethresh.cli import app
from livethresh.config import ThresholdConfig
from livethresh.encode.audio import AudioPassthrough
from livethresh.encode.plan import EncodeSettings
from livethresh.transcode import transcode
from tests.clips import Coding, Picture, Timing, Tone, make_video, video_frames
from tests.helpers import start_cli, wait_for_partial_output

runner = CliRunner()


def frame_times(path: Path) -> list[float]:
    return [float(f.pts * f.time_base) for f in video_frames(path)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def invoke(*args: object):
    return runner.invoke(app, ["transcode", *[str(a) for a in args]])


def assert_one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def with_audio(tmp_path: Path) -> Path:
    return make_video(tmp_path / "talk.mp4", audio=Tone("aac"))


def test_defaults_h264_mp4_with_audio_copied_unchanged(with_audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks.mp4"
    result = invoke(with_audio, out, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert {"frames", "dropped", "fps", "wall_s", "latency_ms", "output"} <= set(stats)
    assert set(stats["latency_ms"]) >= {"p50", "p95", "p99"}
    assert stats["frames"] == 15 and stats["dropped"] == 0 and stats["output"] == str(out)
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
    frames = video_frames(out)
    assert len(frames) == 15 and frames[0].format.name in ("yuv420p", "yuvj420p")
    assert audio_packets(out) == audio_packets(with_audio)  # copied, not re-encoded
    assert frame_times(out) == pytest.approx(frame_times(with_audio), abs=1e-3)
    # The masks are binary: nearly every pixel decodes close to 0 or 255.
    luma = frames[5].to_ndarray(format="gray")
    assert np.mean((luma < 40) | (luma > 215)) > 0.95


def test_audio_the_container_refuses_is_reencoded_with_a_warning(
    with_audio: Path, tmp_path: Path
) -> None:
    out = tmp_path / "masks.webm"
    result = transcode(str(with_audio), str(out), ThresholdConfig())
    assert result.audio == ["#1 aac re-encoded to libopus"]
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams] == ["vp8", "opus"]
        audio_seconds = sum(f.samples for f in container.decode(audio=0)) / 48000
    assert audio_seconds == pytest.approx(0.5 + 0.04, abs=0.05)
    assert len(video_frames(out)) == 15


def test_no_audio_drops_it(with_audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "silent.mkv"
    assert invoke(with_audio, out, "--no-audio").exit_code == 0
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video"]


class RecordingContainer:
    """A real output container that notes the time of every packet muxed into it."""

    def __init__(self, path: Path) -> None:
        self.container = av.open(str(path), "w", format="matroska")
        self.times: list[float] = []
        self.metadata = self.container.metadata
        self.format = self.container.format

    def add_stream_from_template(self, stream):
        return self.container.add_stream_from_template(stream)

    def add_stream(self, *args, **kwargs):
        return self.container.add_stream(*args, **kwargs)

    def mux(self, packet: av.Packet) -> None:
        if packet.pts is not None:
            self.times.append(float(packet.pts * packet.time_base))
        self.container.mux(packet)


def test_audio_is_fed_progressively_up_to_the_video_time(tmp_path: Path) -> None:
    source = make_video(tmp_path / "long.mkv", Picture(frames=60), audio=Tone("aac"))
    audio = AudioPassthrough(str(source), "matroska")
    recorder = RecordingContainer(tmp_path / "out.mkv")
    audio.add_streams(recorder)
    audio.advance(recorder, 0.5)
    assert recorder.times and 0.45 < max(recorder.times) <= 0.5
    audio.advance(recorder, 1.0)
    assert 0.95 < max(recorder.times) <= 1.0
    audio.finish(recorder)
    assert max(recorder.times) > 1.9
    assert recorder.times == sorted(recorder.times)
    recorder.container.close()


def test_variable_frame_rate_stays_variable(tmp_path: Path) -> None:
    stamps = [0, 33, 66, 200, 210, 220, 500, 533, 566, 1000]
    source = make_video(tmp_path / "vfr.mkv", timing=Timing(pts_ms=stamps))
    out = tmp_path / "vfr.mp4"
    assert invoke(source, out).exit_code == 0
    times = frame_times(out)
    assert len(times) == len(stamps)
    assert [round(t * 1000) for t in times] == stamps
    with av.open(str(out)) as a, av.open(str(source)) as b:
        # Duration within a frame of the input's.
        assert abs(a.duration - b.duration) / 1e6 < 1 / 30


@pytest.mark.parametrize("source_ext", ["mp4", "mkv"])
@pytest.mark.parametrize("output_ext", ["mp4", "mkv"])
def test_sparse_variable_frame_rate_keeps_its_duration(
    tmp_path: Path, source_ext: str, output_ext: str
) -> None:
    """A 40 s gap before the last frame makes the average rate tiny; the last frame must
    still last one input frame, not one frame at that average rate (seconds)."""
    stamps = [0, 33, 66, 140, 150, 183, 300, 40000]
    source = make_video(tmp_path / f"sparse.{source_ext}", timing=Timing(pts_ms=stamps))
    out = tmp_path / f"out.{output_ext}"
    assert invoke(source, out).exit_code == 0
    assert [round(t * 1000) for t in frame_times(out)] == stamps
    with av.open(str(out)) as a, av.open(str(source)) as b:
        assert b.duration / 1e6 == pytest.approx(40.033, abs=0.002)
        assert abs(a.duration - b.duration) / 1e6 < 1 / 30


@pytest.mark.parametrize(("extra", "size"), [((), (162, 122)), (("--pix-fmt", "gray"), (161, 121))])
def test_odd_dimensions(tmp_path: Path, extra: tuple[str, ...], size: tuple[int, int]) -> None:
    source = make_video(
        tmp_path / "odd.mkv", Picture(size=(161, 121)), coding=Coding(codec="ffv1", pix_fmt="gray")
    )
    out = tmp_path / "odd.mp4"
    assert invoke(source, out, *extra).exit_code == 0
    frames = video_frames(out)
    assert len(frames) == 15 and (frames[0].width, frames[0].height) == size


def test_ten_bit_input(tmp_path: Path) -> None:
    source = make_video(tmp_path / "deep.mkv", coding=Coding(pix_fmt="yuv420p10le"))
    assert video_frames(source)[0].format.name == "yuv420p10le"
    out = tmp_path / "exact.mkv"
    assert invoke(source, out, "--codec", "ffv1").exit_code == 0
    frames = video_frames(out)
    assert len(frames) == 15 and frames[0].format.name == "gray"
    assert set(np.unique(frames[3].to_ndarray())) == {0, 255}


def test_resolution_change_mid_stream(tmp_path: Path) -> None:
    first = make_video(tmp_path / "a.ts", Picture(size=(160, 120), frames=10), fmt="mpegts")
    second = make_video(
        tmp_path / "b.ts",
        Picture(size=(96, 64), frames=8),
        timing=Timing(start_ms=400),
        fmt="mpegts",
    )
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    sizes = {(f.width, f.height) for f in video_frames(joined)}
    assert sizes == {(160, 120), (96, 64)}
    out = tmp_path / "out.mkv"
    result = invoke(joined, out, "--json")
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == len(video_frames(joined)) == json.loads(result.stdout)["frames"]
    assert {(f.width, f.height) for f in frames} == {(160, 120)}


def test_side_by_side(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mkv")
    out = tmp_path / "sbs.mkv"
    assert invoke(source, out, "--side-by-side", "--codec", "ffv1").exit_code == 0
    picture = video_frames(out)[2].to_ndarray()
    assert picture.shape == (120, 320)
    assert len(np.unique(picture[:, :160])) > 2  # the input, in gray levels
    assert set(np.unique(picture[:, 160:])) == {0, 255}  # the mask


RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.mark.parametrize(
    ("size", "angle", "upright", "pix_fmt"),
    [
        # The coded picture is red above blue; ``upright`` is where red is once turned upright.
        ((64, 48), 180, "bottom", "yuv420p"),
        ((64, 48), -90, "right", "yuv420p"),  # a display matrix of -90 turns 90 clockwise
        ((48, 48), -90, "right", "yuv420p"),  # square: the size alone cannot tell it is rotated
        ((48, 48), 90, "left", "yuv420p"),
        ((64, 48), 90, "left", "yuv422p"),  # turned 4:2:2 chroma has the other shape
    ],
)
def test_side_by_side_colors_follow_the_rotation(
    tmp_path: Path, size: tuple[int, int], angle: int, upright: str, pix_fmt: str
) -> None:
    width, height = size
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[: height // 2], rgb[height // 2 :] = RED, BLUE
    source = make_video(
        tmp_path / "phone.mp4", Picture(rgb=rgb), coding=Coding(lossless=True, rotation=angle)
    )
    out = tmp_path / "sbs.mkv"
    result = invoke(source, out, "--side-by-side", "--codec", "ffv1", "--pix-fmt", pix_fmt)
    assert result.exit_code == 0, result.output
    decoded = video_frames(out)[1]
    assert decoded.format.name == pix_fmt
    picture = decoded.to_ndarray(format="rgb24").astype(int)
    half = picture[:, : picture.shape[1] // 2]  # the upright input
    rows, cols = half.shape[:2]
    assert (cols, rows) == (size if angle == 180 else size[::-1])
    # Centers of the two halves, away from the color edge that 4:2:0 blurs.
    first, second = (
        (half[rows // 4, cols // 2], half[3 * rows // 4, cols // 2])
        if upright in ("top", "bottom")
        else (half[rows // 2, cols // 4], half[rows // 2, 3 * cols // 4])
    )
    red, blue = (first, second) if upright in ("top", "left") else (second, first)
    assert red[0] > 200 and red[2] < 50, red
    assert blue[2] > 200 and blue[0] < 50, blue


def test_side_by_side_limited_range_input_keeps_its_colors(tmp_path: Path) -> None:
    """Pure red, coded in the limited range, comes back as pure red: not washed out."""
    rgb = np.empty((48, 64, 3), np.uint8)
    rgb[:] = RED
    source = make_video(tmp_path / "red.mp4", Picture(rgb=rgb), coding=Coding(lossless=True))
    coded = video_frames(source)[0]
    # Limited range, unflagged as most YUV video: red's luma is coded as 81, not 76.
    assert coded.color_range != av.video.reformatter.ColorRange.JPEG
    assert int(np.median(coded.to_ndarray()[:48])) == 81
    out = tmp_path / "sbs.mp4"
    assert invoke(source, out, "--side-by-side").exit_code == 0  # the lossy default, x264
    picture = video_frames(out)[1].to_ndarray(format="rgb24").astype(int)
    assert np.abs(picture[8:40, 8:56] - RED).max() <= 6, picture[24, 32]


def test_lossless_output_equals_the_article_masks(tmp_path: Path) -> None:
    import cv2

    source = make_video(tmp_path / "in.mkv", coding=Coding(codec="ffv1", pix_fmt="gray"))
    out = tmp_path / "exact.mkv"
    assert invoke(source, out, "--codec", "ffv1").exit_code == 0
    for original, encoded in zip(video_frames(source), video_frames(out), strict=True):
        gray = original.to_ndarray()
        blurred = cv2.GaussianBlur(gray, (7, 7), 0)
        expected = cv2.adaptiveThreshold(
            blurred, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2
        )
        np.testing.assert_array_equal(encoded.to_ndarray(), expected)


# -- output rules -----------------------------------------------------------------------------


def test_refuses_to_overwrite_the_input_by_any_name(tmp_path: Path, monkeypatch) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(frames=3))
    before = source.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(source)
    monkeypatch.chdir(tmp_path)
    for output in (source, link, "./in.mp4", "../" + tmp_path.name + "/in.mp4"):
        assert_one_line_error(invoke(source, output, "-y"), "is the input")
    assert source.read_bytes() == before


def test_existing_output_needs_overwrite_and_is_replaced_when_complete(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(frames=3))
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert_one_line_error(invoke(source, out), "already exists")
    assert out.read_bytes() == b"precious"
    assert invoke(source, out, "-y").exit_code == 0
    assert len(video_frames(out)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_a_failure_before_the_first_frame_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    result = invoke(broken, out, "-y")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "out.mp4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("out.xyz",), "extension"),
        (("out.mkv", "--codec", "ffv1", "--crf", "3"), "no --crf"),
        (("out.webm", "--codec", "libx264"), "cannot hold"),
        (("out.mp4", "--pix-fmt", "nope"), "pixel format"),
        (("-", "--format", "mp4"), "stdout"),
        (("-", "--json"), "--json"),
        (("out.mp4", "--method", "nope"), "method"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(frames=2))
    target, *rest = args
    target = target if target == "-" else str(tmp_path / target)
    assert_one_line_error(invoke(source, target, *rest), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_missing_input(tmp_path: Path) -> None:
    assert_one_line_error(invoke(tmp_path / "nope.mp4", tmp_path / "out.mp4"), "does not exist")


def test_encoder_threads_are_on(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(frames=2))
    settings = EncodeSettings(threads=2)
    result = transcode(str(source), str(tmp_path / "out.mp4"), ThresholdConfig(), settings)
    assert result.frames == 2


# -- real processes: stdout and signals ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mpegts", "matroska", "yuv4mpegpipe"])
def test_stdout_streams_a_playable_container(tmp_path: Path, fmt: str) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(frames=6), audio=Tone("aac"))
    process = start_cli("transcode", source, "-", "--format", fmt)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    received = tmp_path / "received"
    received.write_bytes(stdout)
    with av.open(str(received), format=fmt) as container:
        kinds = sorted(s.type for s in container.streams)
        count = sum(1 for _ in container.decode(video=0))
    assert count == 6
    assert kinds == (["video"] if fmt == "yuv4mpegpipe" else ["audio", "video"])


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_finalizes_a_playable_output(tmp_path: Path, signum: int, code: int) -> None:
    total = 400
    source = make_video(
        tmp_path / "in.mkv", Picture(size=(320, 240), frames=total), audio=Tone("aac")
    )
    out = tmp_path / "out.mkv"
    # A slow encoder preset makes the run last long enough to be interrupted in the middle.
    process = start_cli("transcode", source, out, "--encoder-preset", "veryslow", "--json")
    wait_for_partial_output(tmp_path, 20_000, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr.decode()
    assert "Traceback" not in stderr.decode()
    stats = json.loads(stdout)
    frames = video_frames(out)
    assert 0 < len(frames) < total
    assert len(frames) == stats["frames"]  # every frame handed to the encoder is in the file
    assert stats["interrupted"] == signal.Signals(signum).name
    with av.open(str(out)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        # Audio was muxed as the video progressed, not all at once at the end.
        assert sum(1 for _ in container.decode(audio=0)) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv"]


def test_preset_means_the_threshold_preset_and_encoder_speed_has_its_own_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--preset`` means the same in every command; x264's speed names go to --encoder-preset."""
    from typer.testing import CliRunner

    import livethresh.cli.video
    from livethresh import cli
    from livethresh.config import ThresholdConfig, resolve
    from livethresh.errors import LivethreshError

    seen: list[tuple[object, object]] = []

    def record_call(input, output, config, settings, **kwargs):
        seen.append((config, settings.preset))
        raise LivethreshError("stop here")

    monkeypatch.setattr(livethresh.cli.video, "run_transcode", record_call)
    source = make_video(tmp_path / "in.mp4", Picture(size=(64, 48), frames=3))
    for args in (
        ["--preset", "document"],
        ["--encoder-preset", "veryfast"],
        ["--preset", "document", "--encoder-preset", "slow"],
    ):
        result = CliRunner().invoke(
            cli.app, ["transcode", str(source), str(tmp_path / "o.mp4"), *args]
        )
        assert "stop here" in result.stderr
    document = resolve(preset="document")
    assert seen == [(document, None), (ThresholdConfig(), "veryfast"), (document, "slow")]
    refused = CliRunner().invoke(
        cli.app, ["transcode", str(source), str(tmp_path / "o.mp4"), "--preset", "veryfast"]
    )
    assert refused.exit_code == 2 and "unknown preset 'veryfast'" in refused.stderr
