"""transcode --split: segments run in parallel give a single run's output, or one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings
from livethresh.split import STABILIZE_WARM_UP, transcode_split, warm_up_for
from livethresh.split.plan import plan_segments
from livethresh.transcode import transcode
from tests.clips import make_split_clip
from tests.helpers import assert_one_line, document_frame, invoke

FPS = 30
LOSSLESS = EncodeSettings(codec="ffv1")
COMMAND = (sys.executable, "-m", "livethresh", "transcode")
RAY_ARGS = ("--split", "2", "--json", "--codec", "ffv1")


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
    return make_split_clip(tmp_path_factory.mktemp("split") / "lecture.mkv", subtitles=True)


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
    clip = make_split_clip(
        tmp_path / "still.mp4", frames=150, gop=15, noise=4.0, still=45, audio=False
    )
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
    short = make_split_clip(tmp_path / "short.mp4", frames=20)
    stream = make_split_clip(tmp_path / "stream.ts", frames=60, fmt="mpegts")
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        cv2.imwrite(str(frames / f"{index:04d}.png"), document_frame(48, 64, seed=index))
    # MP4 with its index first, cut short: the index names keyframes the file no longer holds.
    whole = tmp_path / "whole.mp4"
    full = make_split_clip(tmp_path / "full.mp4")
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
