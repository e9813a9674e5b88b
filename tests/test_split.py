"""transcode --split: segments run in parallel give a single run's output, or one clear line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from av.subtitles.subtitle import SubtitleSet

from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings
from livethresh.split import STABILIZE_WARM_UP, transcode_split, warm_up_for
from livethresh.split.plan import plan_segments
from livethresh.transcode import transcode
from tests.clips import ASS_HEADER, MS
from tests.helpers import assert_one_line, document_frame, invoke, start_cli

FPS = 30
LOSSLESS = EncodeSettings(codec="ffv1")
COMMAND = (sys.executable, "-m", "livethresh", "transcode")
RAY_ARGS = ("--split", "2", "--json", "--codec", "ffv1")


def make_clip(
    path: Path,
    *,
    frames: int = 120,
    size: tuple[int, int] = (160, 120),
    gop: int = 10,
    noise: float = 0.0,
    still: int = 1,
    audio: bool = True,
    video_start: int = 3,
    fmt: str | None = None,
    lossless: bool = True,
    subtitles: bool = False,
) -> Path:
    """A document page that moves every ``still`` frames, with keyframes every ``gop`` frames,
    a title, and a tone that starts ``video_start`` frames before the video does; with
    ``subtitles``, a French SRT stream of one line a second."""
    width, height = size
    page = document_frame(height + frames, width + frames, seed=7)
    rng = np.random.default_rng(3)
    with av.open(str(path), "w", format=fmt) as container:
        container.metadata["title"] = "A long lecture"
        video = container.add_stream(
            "libx264",
            rate=FPS,
            options={"preset": "ultrafast", "g": str(gop), "qp": "0" if lossless else "23"},
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, FPS)
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=48000)
            sound.layout = "stereo"
            sound.metadata["language"] = "fre"
        text = None
        if subtitles:
            text = container.add_stream("subrip")
            text.codec_context.subtitle_header = ASS_HEADER
            text.time_base = MS
            text.metadata["language"] = "fra"
        sample = 0
        for index in range(frames):
            shift = index // still
            gray = page[shift : shift + height, shift : shift + width].astype(np.float32)
            if noise:
                gray += rng.normal(0, noise, gray.shape)
            picture = np.clip(gray, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="gray").reformat(format="yuv420p")
            frame.pts, frame.time_base = index + video_start, Fraction(1, FPS)
            container.mux(video.encode(frame))
            while sound is not None and sample < (index + video_start + 1) * 48000 // FPS:
                tone = np.sin(np.arange(sample, sample + 1024) / 20).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(
                    np.stack([tone, tone]) * 0.3, format="fltp", layout="stereo"
                )
                chunk.sample_rate, chunk.pts = 48000, sample
                container.mux(sound.encode(chunk))
                sample += 1024
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
        for second in range(frames // FPS if text is not None else 0):
            assert text is not None
            line = SubtitleSet.create(
                text=f"{second},0,Default,,0,0,0,,Line {second}".encode(), start=0, end=800
            )
            packet = text.codec_context.encode_subtitle(line)
            packet.stream, packet.time_base = text, MS
            packet.pts = packet.dts = 1000 * second + 200
            packet.duration = 800
            container.mux(packet)
    return path


def contents(path: Path) -> dict[str, Any]:
    """What a viewer sees and hears: each frame's mask and time, the audio packets, the tags."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        masks = [(f.pts, f.to_ndarray(format="gray")) for f in container.decode(video)]
    with av.open(str(path)) as container:
        others = [*container.streams.audio, *container.streams.subtitles]
        audio = [
            (p.stream.type, p.pts, p.dts, p.duration, bytes(p))
            for p in (container.demux(*others) if others else [])
            if p.size
        ]
        video = container.streams.video[0]
        return {
            "masks": masks,
            "audio": audio,
            "audio_tags": [dict(s.metadata) for s in others],
            "tags": dict(container.metadata),
            "time_base": video.time_base,
            "duration": video.duration,
            "aspect": video.sample_aspect_ratio,
            "packets": [(p.pts, p.dts, p.duration) for p in container.demux(video) if p.size],
        }


def assert_same_run(single: dict[str, Any], split: dict[str, Any]) -> None:
    assert [pts for pts, _ in split["masks"]] == [pts for pts, _ in single["masks"]]
    for (pts, a), (_, b) in zip(single["masks"], split["masks"], strict=True):
        assert np.array_equal(a, b), f"the masks differ at pts {pts}"
    for key in ("audio", "audio_tags", "tags", "time_base", "duration", "aspect", "packets"):
        assert split[key] == single[key], key


def differing_share(single: dict[str, Any], split: dict[str, Any]) -> float:
    """The share of mask pixels that differ between two runs of the same frames."""
    differ = total = 0
    for (_, a), (_, b) in zip(single["masks"], split["masks"], strict=True):
        differ += int(np.count_nonzero(a != b))
        total += a.size
    return differ / total


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("split") / "lecture.mkv", subtitles=True)


@pytest.mark.parametrize("method", ["gaussian", "sauvola", "otsu"])
def test_stateless_methods_give_a_single_runs_masks_timestamps_audio_subtitles_and_tags(
    clip: Path, tmp_path: Path, method: str
) -> None:
    config = ThresholdConfig(method=method)
    transcode(str(clip), str(tmp_path / "one.mp4"), config, LOSSLESS, handle_signals=False)
    result = transcode_split(
        str(clip), str(tmp_path / "split.mp4"), config, LOSSLESS, segments=3, handle_signals=False
    )
    assert len(result.segments) == 3 and result.note is None
    assert [s.warm_up for s in result.segments] == [0, 0, 0]
    assert result.frames == 120
    assert_same_run(contents(tmp_path / "one.mp4"), contents(tmp_path / "split.mp4"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "split.mp4"]


def test_the_background_methods_hysteresis_matches_a_single_run_after_one_frame(
    clip: Path, tmp_path: Path
) -> None:
    config = ThresholdConfig(method="background")
    transcode(str(clip), str(tmp_path / "one.mp4"), config, LOSSLESS, handle_signals=False)
    result = transcode_split(
        str(clip), str(tmp_path / "split.mp4"), config, LOSSLESS, segments=3, handle_signals=False
    )
    assert warm_up_for(config) == (1, 1)
    assert [s.warm_up for s in result.segments] == [0, 1, 1]
    assert_same_run(contents(tmp_path / "one.mp4"), contents(tmp_path / "split.mp4"))


def zooming_page(path: Path, frames: int = 240, size: tuple[int, int] = (160, 120)) -> Path:
    """A page whose strokes grow to twice their width over the clip (a camera zooming in)."""
    width, height = size
    page = document_frame(height * 3, width * 3, seed=11)
    rng = np.random.default_rng(2)
    with av.open(str(path), "w") as container:
        video = container.add_stream(
            "libx264", rate=FPS, options={"preset": "ultrafast", "g": "10", "qp": "0"}
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            side = 3.0 / (1 + index / frames)
            crop = page[: int(height * side), : int(width * side)]
            gray = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            gray = np.clip(gray + rng.normal(0, 3, gray.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(gray, format="gray").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def test_auto_scale_matches_a_single_run_after_its_warm_up_while_the_strokes_grow(
    tmp_path: Path,
) -> None:
    """The committed stroke width moves only past a 15% drift, so it remembers more than the
    last frames: measured on this clip (4 segments), 0.54% of the pixels differ without a
    warm-up, 0.045% after 60 frames (in 14 of 240 frames), none after the default 120."""
    clip = zooming_page(tmp_path / "zoom.mp4")
    config = ThresholdConfig(method="sauvola", auto_scale=True)
    transcode(str(clip), str(tmp_path / "one.mkv"), config, LOSSLESS, handle_signals=False)
    single = contents(tmp_path / "one.mkv")
    shares = []
    for warm_up in (0, None):
        result = transcode_split(
            str(clip),
            str(tmp_path / "split.mkv"),
            config,
            LOSSLESS,
            segments=4,
            overwrite=True,
            warm_up=warm_up,
            handle_signals=False,
        )
        shares.append(differing_share(single, contents(tmp_path / "split.mkv")))
    assert shares[0] > 0.001
    assert shares[1] == 0
    assert_same_run(single, contents(tmp_path / "split.mkv"))
    assert all(s.warm_up >= 50 for s in result.segments[1:])  # all 50 frames before the first cut


def test_stabilization_after_its_warm_up_differs_from_a_single_run_only_in_rare_pixels(
    tmp_path: Path,
) -> None:
    """Stabilization's average has a dead zone of about two gray levels: where the page stays
    still, a difference that small never decays, so no warm-up short of the whole input makes
    it exact. Measured on a still noisy page (sigma 4): 0.40% of the pixels differ without a
    warm-up, 0.13% after 32 frames (no better after 64); the bound leaves room for noise."""
    clip = make_clip(tmp_path / "still.mp4", frames=150, gop=15, noise=4.0, still=45, audio=False)
    config = ThresholdConfig(stabilize=True)
    transcode(str(clip), str(tmp_path / "one.mkv"), config, LOSSLESS, handle_signals=False)
    single = contents(tmp_path / "one.mkv")
    shares = []
    for warm_up in (0, STABILIZE_WARM_UP):
        transcode_split(
            str(clip),
            str(tmp_path / "split.mkv"),
            config,
            LOSSLESS,
            segments=3,
            overwrite=True,
            warm_up=warm_up,
            handle_signals=False,
        )
        shares.append(differing_share(single, contents(tmp_path / "split.mkv")))
    without, warmed = shares
    assert 0 < warmed < without
    assert warmed < 0.005


def test_an_encoder_with_b_frames_gives_a_single_runs_timestamps(
    clip: Path, tmp_path: Path
) -> None:
    """x264's medium preset reorders frames; the pieces' container keeps no decode times."""
    settings = EncodeSettings(preset="medium")
    transcode(str(clip), str(tmp_path / "one.mp4"), ThresholdConfig(), settings)
    transcode_split(str(clip), str(tmp_path / "split.mp4"), ThresholdConfig(), settings, segments=3)
    single, split = contents(tmp_path / "one.mp4"), contents(tmp_path / "split.mp4")
    assert [pts for pts, _ in split["masks"]] == [pts for pts, _ in single["masks"]]
    assert split["duration"] == single["duration"] and split["audio"] == single["audio"]
    decode_times = [dts for _, dts, _ in split["packets"]]
    assert decode_times == sorted(set(decode_times))


def test_kept_input_timestamps_are_a_single_runs(clip: Path, tmp_path: Path) -> None:
    settings = EncodeSettings(codec="ffv1", keep_timestamps=True)
    transcode(str(clip), str(tmp_path / "one.mkv"), ThresholdConfig(), settings)
    transcode_split(str(clip), str(tmp_path / "split.mkv"), ThresholdConfig(), settings, segments=2)
    assert_same_run(contents(tmp_path / "one.mkv"), contents(tmp_path / "split.mkv"))
    assert contents(tmp_path / "split.mkv")["masks"][0][0] == 100  # 3 frames at 30 fps, in ms


def test_a_short_input_and_inputs_that_cannot_be_cut_run_as_one_segment(tmp_path: Path) -> None:
    short = make_clip(tmp_path / "short.mp4", frames=20)
    stream = make_clip(tmp_path / "stream.ts", frames=60, fmt="mpegts")
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        cv2.imwrite(str(frames / f"{index:04d}.png"), document_frame(48, 64, seed=index))
    # MP4 with its index first, cut short: the index names keyframes the file no longer holds.
    whole = tmp_path / "whole.mp4"
    full = make_clip(tmp_path / "full.mp4")
    with (
        av.open(str(full)) as source,
        av.open(str(whole), "w", options={"movflags": "+faststart"}) as copy,
    ):
        streams = {s.index: copy.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                copy.mux(packet)
    cut_short = tmp_path / "cut.mp4"
    cut_short.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    cases = {
        "cut.mp4": (cut_short, "keyframes cannot be reached by seeking", None),
        "short.mp4": (short, "shorter than 3 keyframe intervals per segment", 20),
        "stream.ts": (stream, "mpegts, a container without an index", 60),
        "frames": (frames / "%04d.png", "image sequence", 3),
    }
    for name, (input, why, count) in cases.items():
        output = tmp_path / f"{name}.mkv"
        done = invoke("transcode", input, output, "--split", "4", "--json")
        assert_one_line(done.stderr, done.exit_code, 0, why, "running it as one segment")
        report = json.loads(done.stdout)
        assert report["segments"] == [] and report["frames"] == (count or report["frames"])
        assert output.is_file()
    for input in ("-", "testsrc2", "0", "udp://127.0.0.1:5000"):  # a pipe, a pattern, a camera
        assert "not a regular file" in (plan_segments(input, 4, cores=2).note or "")


def test_bad_split_options_fail_in_one_line_and_never_touch_a_file(
    clip: Path, tmp_path: Path
) -> None:
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep me")
    before = clip.read_bytes()
    cases = [
        (["--split", "0"], tmp_path / "a.mp4", "positive number of segments or auto"),
        (["--split", "many"], tmp_path / "a.mp4", "positive number of segments or auto"),
        (["--jobs", "2"], tmp_path / "a.mp4", "go with --split"),
        (["--split", "2"], taken, "already exists"),
        (["--split", "2"], clip, "is the input file"),
    ]
    done = invoke("transcode", tmp_path / "missing.mp4", tmp_path / "a.mp4", "--split", "2")
    assert_one_line(done.stderr, done.exit_code, 2, "does not exist")
    for options, output, text in cases:
        done = invoke("transcode", clip, output, *options)
        assert_one_line(done.stderr, done.exit_code, 2, text)
    assert taken.read_bytes() == b"keep me"
    assert clip.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mp4"]


def pieces(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".split-" in p.name]


def wait_for_segments(folder: Path, process: subprocess.Popen[bytes]) -> list[int]:
    """The two worker processes, once both are writing their pieces."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = _workers(process.pid)
        if len(running) == 2 and len(pieces(folder)) == 2:
            return running
        time.sleep(0.01)
    process.kill()
    pytest.fail("the segments never started writing")


#: Two segments, of about a second of work each here.
SLOW = ("--split", "2", "--method", "sauvola")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to be stopped in the middle: the signal goes as soon as both workers
    have started their pieces."""
    return make_clip(
        tmp_path_factory.mktemp("long") / "day.mp4",
        frames=600,
        size=(320, 240),
        gop=30,
        lossless=False,
    )


def test_ctrl_c_and_sigterm_stop_every_worker_and_leave_no_piece(
    long_clip: Path, tmp_path: Path
) -> None:
    """Both runs at once (the test's time is one run's): SIGINT ends with 130, SIGTERM 143."""
    runs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        folder = tmp_path / sig.name
        folder.mkdir()
        runs[sig] = (folder, start_cli("transcode", long_clip, folder / "out.mp4", *SLOW))
    workers: list[int] = []
    waiting = dict(runs)
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for sig, (folder, process) in list(waiting.items()):
            running = _workers(process.pid)
            if len(running) == 2 and len(pieces(folder)) == 2:
                workers += running
                process.send_signal(sig)  # both segments are writing their pieces
                del waiting[sig]
        time.sleep(0.01)
    assert not waiting, "the segments never started writing"
    for sig, (folder, process) in runs.items():
        _, stderr = process.communicate(timeout=30)
        line = assert_one_line(stderr.decode(), process.returncode, 128 + sig, "pieces removed")
        assert f"stopped by {sig.name}" in line
        assert list(folder.iterdir()) == []
    assert len(workers) == 4
    assert not [pid for pid in workers if _running(pid)]


def test_a_failing_segment_fails_the_run_naming_its_time_range(
    long_clip: Path, tmp_path: Path
) -> None:
    """A worker killed (as the kernel's out-of-memory killer does) fails its segment."""
    process = start_cli("transcode", long_clip, tmp_path / "out.mp4", *SLOW)
    workers = wait_for_segments(tmp_path, process)
    os.kill(workers[-1], signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    line = assert_one_line(stderr.decode(), process.returncode, 2, "its worker process died")
    assert re.search(r"segment [12] of 2 \(\d+\.\d{3}-\d+\.\d{3} s\) failed", line), line
    assert list(tmp_path.iterdir()) == []


def _workers(parent: int) -> list[int]:
    """The segment workers: the children of the command's forkserver."""
    table: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            table[int(entry.name)] = (
                int(stat.rsplit(")", 1)[1].split()[1]),
                (entry / "cmdline").read_bytes(),
            )
        except (OSError, ValueError):
            continue
    servers = {
        pid for pid, (ppid, line) in table.items() if ppid == parent and b"forkserver" in line
    }
    return sorted(pid for pid, (ppid, _) in table.items() if ppid in servers)


def _running(pid: int) -> bool:
    """Whether ``pid`` is still a live process (not gone, not a zombie)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_plan_cuts_at_keyframes_with_each_segment_its_own_frames(clip: Path) -> None:
    plan = plan_segments(str(clip), 3, cores=2)
    starts = [s.start for s in plan.segments]
    assert starts[0] is None and len(starts) == 3
    assert [s.end for s in plan.segments[:-1]] == starts[1:]
    assert all(s.first_frame % 10 == 0 for s in plan.segments)  # keyframes every 10 frames


def test_the_ray_engine_spreads_the_segments_over_both_nodes(clip: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from tests.ray_cluster import local_cluster

    output = tmp_path / "split.mp4"
    with local_cluster(nodes=2, cpus=1) as (address, env):
        done = subprocess.run(
            [*COMMAND, str(clip), str(output), *RAY_ARGS, "--ray-address", address],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["engine"] == "ray" and len(report["segments"]) == 2
    assert len({s["node"] for s in report["segments"]}) == 2
    transcode(str(clip), str(tmp_path / "one.mp4"), ThresholdConfig(), LOSSLESS)
    assert_same_run(contents(tmp_path / "one.mp4"), contents(output))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "split.mp4"]
