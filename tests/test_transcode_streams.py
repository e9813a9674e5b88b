"""What ``transcode`` writes besides the masks, and how it checks encoders first:
y4m headers, timestamps from 0, tags, subtitles, audio the container refuses, per-encoder
options, quiet encoders, the summary's time; and ``image`` on a multi-page TIFF."""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livethresh.config import ThresholdConfig
from livethresh.encode import containers
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.errors import ConfigError, OutputError
from livethresh.sinks.encoder import EncoderSink
from livethresh.transcode import transcode
from tests.clips import MS, Coding, Picture, Streams, Timing, Tone, make_tagged_video, make_video
from tests.helpers import assert_one_line, invoke, run_cli

RATE = 48000


def transcode_cli(*args: object):
    return invoke("transcode", *args)


def assert_one_line_error(result, text: str) -> None:
    assert_one_line(result.stderr, result.exit_code, 2, text)


def first_times(path: Path) -> dict[str, float]:
    """Each stream type's earliest packet time, in seconds."""
    times: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or not packet.size:
                continue
            when = float(packet.pts * packet.time_base)
            kind = packet.stream.type
            times[kind] = min(times.get(kind, when), when)
    return times


# -- y4m header --------------------------------------------------------------------------------


def test_y4m_header_has_the_frame_rate_and_aspect_ratio(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", Picture(size=(64, 48)), timing=Timing(start_ms=5))
    out = tmp_path / "out.y4m"
    result = transcode_cli(source, out, "--format", "yuv4mpegpipe")
    assert result.exit_code == 0, result.output
    header = out.read_bytes().split(b"\n", 1)[0].split()
    assert header[:3] == [b"YUV4MPEG2", b"W64", b"H48"]
    assert b"F30:1" in header and b"A1:1" in header


def test_anamorphic_input_keeps_its_sample_aspect_ratio(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "in.mkv", coding=Coding(sar=Fraction(4, 3)), audio=None)
    out = tmp_path / "out.mp4"
    assert transcode_cli(source, out).exit_code == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(4, 3)


# -- timestamps start at 0 ---------------------------------------------------------------------


def test_output_starts_at_zero_and_audio_stays_in_sync(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "late.mkv", start_ms=1480)
    before = first_times(source)
    out = tmp_path / "out.mkv"
    assert transcode_cli(source, out).exit_code == 0
    after = first_times(out)
    assert after["video"] == pytest.approx(0, abs=0.002)
    # The same gap between audio and video as in the input (aac adds its priming delay).
    gap = before["audio"] - before["video"]
    assert after["audio"] - after["video"] == pytest.approx(gap, abs=0.002)
    with av.open(str(out)) as container:
        assert container.duration / 1e6 < 0.6  # 12 frames at 30 fps, not 1.48 s more


def test_keep_timestamps_keeps_the_input_times(tmp_path: Path) -> None:
    source = make_video(tmp_path / "late.mkv", Picture(size=(64, 48)), timing=Timing(start_ms=1480))
    out = tmp_path / "out.mkv"
    assert transcode_cli(source, out, "--keep-timestamps").exit_code == 0
    assert first_times(out)["video"] == pytest.approx(1.48, abs=0.002)


# -- tags, dispositions, subtitles, a second video ---------------------------------------------


def test_tags_and_subtitles_are_kept_in_matroska(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "in.mkv", streams=Streams(subtitles=True))
    out = tmp_path / "out.mkv"
    result = transcode(str(source), str(out), ThresholdConfig())
    assert result.audio == ["#1 aac copied"]
    with av.open(str(out)) as container:
        assert container.metadata.get("title") == "My talk"
        sound, text = container.streams.audio[0], container.streams.subtitles[0]
        assert sound.metadata.get("language") == "fre"
        assert sound.metadata.get("title") == "Commentary"
        assert text.codec_context.name in ("srt", "subrip")
        assert text.metadata.get("language") == "eng"
        assert text.disposition & av.stream.Disposition.forced
        lines = [
            r.ass.decode().rsplit(",", 1)[-1]
            for p in container.demux(text)
            if p.size
            for r in text.codec_context.decode2(p) or ()
        ]
    assert lines == ["Line 0", "Line 1"]


def test_srt_becomes_mov_text_in_mp4_with_its_language(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "in.mkv", streams=Streams(subtitles=True))
    out = tmp_path / "out.mp4"
    assert transcode_cli(source, out).exit_code == 0
    with av.open(str(out)) as container:
        assert container.streams.audio[0].metadata.get("language") == "fre"
        text = container.streams.subtitles[0]
        assert text.codec_context.name == "mov_text"
        assert text.metadata.get("language") == "eng"
        # (mov_text marks the gaps with empty 2-byte samples.)
        packets = [p for p in container.demux(text) if p.size > 2]
        assert [b"Line 0" in bytes(p) for p in packets] == [True, False]
        assert b"Line 1" in bytes(packets[1])
        assert float(packets[1].pts * packets[1].time_base) == pytest.approx(0.2, abs=0.002)


def test_subtitles_mpegts_cannot_hold_are_named_in_one_warning(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "in.mkv", streams=Streams(subtitles=True))
    result = transcode_cli(source, tmp_path / "out.ts")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "#2 subrip dropped" in warnings[0]


def test_a_dropped_second_video_stream_is_named(tmp_path: Path) -> None:
    source = make_tagged_video(tmp_path / "two.mkv", streams=Streams(second_video=True), audio=None)
    result = transcode_cli(source, tmp_path / "out.mkv")
    assert result.exit_code == 0, result.output
    assert "1 more video streams (#1); only the first (#0) is read" in result.stderr


# -- audio the container cannot take -----------------------------------------------------------


@pytest.mark.parametrize("codec", ["libopus", "flac"])
def test_audio_mov_refuses_is_reencoded_not_fatal(tmp_path: Path, codec: str) -> None:
    source = make_tagged_video(tmp_path / "in.mkv", audio=Tone(codec))
    out = tmp_path / "out.mov"
    result = transcode_cli(source, out)
    assert result.exit_code == 0, result.output
    assert "re-encoding to aac" in result.stderr
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        # (ffmpeg keeps no language in .mov either; the title is kept as "name".)
        assert container.streams.audio[0].metadata.get("name") == "Commentary"
        assert sum(f.samples for f in container.decode(audio=0)) > 0.3 * RATE


def test_pcm_without_a_layout_is_resampled_for_aac_in_ts(tmp_path: Path) -> None:
    # AVI stores a channel count but no layout: the decoder says "2 channels".
    source = make_tagged_video(tmp_path / "in.avi", audio=Tone("pcm_s16le"))
    with av.open(str(source)) as container:
        assert container.streams.audio[0].layout.name == "2 channels"
    out = tmp_path / "out.ts"
    result = transcode_cli(source, out)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        sound = container.streams.audio[0]
        assert sound.codec_context.name == "aac" and sound.layout.name == "stereo"
        assert sum(f.samples for f in container.decode(audio=0)) > 0.3 * RATE


def test_audio_that_cannot_be_written_names_the_stream_and_no_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(containers.AUDIO_CODEC_BY_FORMAT, "mov", "libopus")
    source = make_tagged_video(tmp_path / "in.mkv", audio=Tone("flac"))
    assert_one_line_error(
        transcode_cli(source, tmp_path / "out.mov"),
        "audio stream #1 (flac) cannot be written to mov",
    )
    assert "--no-audio" in transcode_cli(source, tmp_path / "out.mov").stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
    assert transcode_cli(source, tmp_path / "out.mov", "--no-audio").exit_code == 0


# -- encoder options checked per encoder, up front ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--codec", "libsvtav1", "--encoder-preset", "veryslow"), "use 0 to 13"),
        (("--codec", "libx265", "--crf", "52"), "invalid --crf 52 for libx265: use 0 to 51"),
        (("--crf", "52"), "for libx264: use 0 to 51"),
        (("--codec", "libvpx-vp9", "--crf", "64"), "use 0 to 63"),
        (("--codec", "libx264", "--encoder-preset", "fastest"), "ultrafast, superfast"),
        (("--codec", "libvpx-vp9", "--encoder-preset", "fast"), "has no --encoder-preset"),
    ],
)
def test_encoder_options_are_checked_per_encoder(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    source = make_video(tmp_path / "in.mkv", Picture(size=(64, 48), frames=2))
    assert_one_line_error(transcode_cli(source, tmp_path / "out.mkv", *args), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_valid_per_encoder_values_pass() -> None:
    assert plan_encoding("a.mkv", EncodeSettings(codec="libsvtav1", preset="4")).options[
        "preset"
    ] == ("4")
    assert plan_encoding("a.mkv", EncodeSettings(codec="libx265", crf=51)).options["crf"] == "51"
    with pytest.raises(ConfigError, match="4 to 63"):
        plan_encoding("a.webm", EncodeSettings(codec="libvpx", crf=2))


def test_an_encoder_failure_is_one_line_without_library_text(tmp_path: Path) -> None:
    from livethresh.frames import StreamInfo

    sink = EncoderSink(tmp_path / "x.mp4", EncodeSettings(options={"profile": "nosuch"}))
    with pytest.raises(OutputError) as caught:
        sink.open(StreamInfo("t", 64, 48, Fraction(30), MS))
    message = str(caught.value)
    assert "encoder 'libx264' refused 64x48 yuv420p" in message and "--codec" in message
    assert "avcodec_open2" not in message and "\n" not in message


# -- quiet encoders, one thread ----------------------------------------------------------------


ROOT = Path(__file__).resolve().parent.parent
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("codec", ["libx265", "libsvtav1"])
def test_x265_and_svtav1_print_nothing_below_errors(tmp_path: Path, codec: str) -> None:
    source = make_video(tmp_path / "in.mkv", Picture(size=(64, 48), frames=4))
    done = run_cli("transcode", source, tmp_path / "out.mkv", "--codec", codec, env=CLEAN_ENV)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # the summary only
    assert done.stderr.startswith("wrote ")


def test_x265_runs_one_thread_unless_told_otherwise(tmp_path: Path) -> None:
    # The user's own x265-params come last; here they turn x265's log back on to show it.
    sink = EncoderSink(
        tmp_path / "out.mkv",
        EncodeSettings(codec="libx265", options={"x265-params": "log-level=info"}),
    )
    assert sink.plan.options["x265-params"] == (
        "log-level=error:pools=1:frame-threads=1:log-level=info"
    )
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, av\n"
            "from fractions import Fraction\n"
            "from livethresh.sinks.encoder import EncoderSink\n"
            "from livethresh.encode.plan import EncodeSettings\n"
            "from livethresh.frames import StreamInfo\n"
            "s = EncoderSink(sys.argv[1], EncodeSettings(codec='libx265', "
            "options={'x265-params': 'log-level=info'}))\n"
            "s.open(StreamInfo('t', 64, 48, Fraction(30), Fraction(1, 30)))\n"
            "s.close()\n",
            str(tmp_path / "p.mkv"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=CLEAN_ENV,
    )
    assert "Thread pool created using 1 threads" in probe.stderr, probe.stderr


# -- the summary's time covers the encoder flush -----------------------------------------------


def test_summary_time_includes_the_encoder_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    close = EncoderSink.close

    def slow_flush(self: EncoderSink) -> None:
        if not self.closing:
            time.sleep(0.4)  # as x265 flushing its lookahead
        close(self)

    monkeypatch.setattr(EncoderSink, "close", slow_flush)
    source = make_video(tmp_path / "in.mkv", Picture(size=(64, 48), frames=3))
    result = transcode(str(source), str(tmp_path / "out.mkv"), ThresholdConfig())
    assert result.stats.wall_s >= 0.4
    assert f"in {result.stats.wall_s:.2f} s" in result.summary()


def test_a_multipage_tiff_says_only_page_one_is_binarized(tmp_path: Path) -> None:
    import cv2

    pages = [np.full((40, 60), value, np.uint8) for value in (30, 220, 120)]
    source = tmp_path / "scan.tif"
    assert cv2.imwritemulti(str(source), pages)
    result = invoke("image", source, tmp_path / "mask.png")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "has 3 pages; only page 1 is binarized" in warnings[0]
    single = tmp_path / "one.tif"
    assert cv2.imwrite(str(single), pages[0])
    assert "warning" not in invoke("image", single, tmp_path / "one.png").stderr
