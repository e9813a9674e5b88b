"""The pipeline: ordering, drop vs backpressure, failures in every stage, shutdown, allocation."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from livethresh.binarize.opencv import article_reference as reference
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError, OutputError
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.pipeline import Pipeline
from livethresh.sinks import NullSink
from livethresh.slots import LivePolicy
from livethresh.sources import open_source
from tests.clips import Picture, Timing, make_video
from tests.helpers import ArraySource, RecordingSink

CONFIG = ThresholdConfig()


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("livethresh-")]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5
    while worker_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker_threads() == []


def test_file_source_keeps_every_frame_in_order_and_masks_are_exact() -> None:
    source, sink = ArraySource(12), RecordingSink()
    stats = Pipeline(source, sink, CONFIG).run()
    assert sink.indices == list(range(12))
    assert (stats.frames_read, stats.frames_processed, stats.frames_written) == (12, 12, 12)
    assert stats.dropped == 0
    for index, mask in zip(sink.indices, sink.masks, strict=True):
        assert np.array_equal(mask, reference(source.image(index), CONFIG))
    assert sink.opened == 1 and sink.closed == 1
    assert source.generator_closed


def test_stats_dict_has_the_documented_keys() -> None:
    stats = Pipeline(ArraySource(5), NullSink(), CONFIG).run()
    data = stats.to_dict()
    assert data["frames"] == 5 and data["dropped"] == 0
    assert data["wall_s"] > 0 and data["fps"] > 0
    assert set(data["latency_ms"]) >= {"p50", "p95", "p99"}
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p99"]
    assert set(data["stage_ms"]) == {"read", "gray", "binarize", "write"}


def test_max_frames_stops_reading_an_endless_source() -> None:
    source = ArraySource(None)
    stats = Pipeline(source, NullSink(), CONFIG, max_frames=7).run()
    assert stats.frames_read == 7 and stats.frames_written == 7
    assert source.generator_closed


def test_failing_source_is_reraised_in_the_caller_and_everything_stops() -> None:
    source, sink = ArraySource(100, fail_at=6), RecordingSink(delay=0.002)
    with pytest.raises(InputError, match="fake source broke") as caught:
        Pipeline(source, sink, CONFIG).run()
    assert caught.value.__traceback__ is not None
    assert len(sink.indices) <= 6
    assert sink.closed == 1


def test_failing_sink_is_reraised_and_the_source_is_released() -> None:
    source = ArraySource(None)  # endless: only the failure can end the run
    sink = RecordingSink(fail_at=4)
    with pytest.raises(OutputError, match="fake sink broke"):
        Pipeline(source, sink, CONFIG).run()
    assert sink.indices == [0, 1, 2, 3]
    assert sink.closed == 1
    assert source.generator_closed


def test_failing_processing_stage_is_reraised() -> None:
    class FloatSource(ArraySource):
        def frames(self) -> Iterator[np.ndarray]:
            yield np.zeros((48, 64), np.float32)

    with pytest.raises(InputError, match="uint8"):
        Pipeline(FloatSource(1), NullSink(), CONFIG).run()


def test_sink_that_stops_early_ends_the_run_cleanly() -> None:
    source, sink = ArraySource(None), RecordingSink(stop_at=3)
    stats = Pipeline(source, sink, CONFIG).run()
    assert stats.stopped_early
    assert stats.frames_written == 3 and sink.indices == [0, 1, 2]
    assert sink.closed == 1 and source.generator_closed


def test_slow_sink_on_a_file_applies_backpressure_and_drops_nothing() -> None:
    source, sink = ArraySource(25), RecordingSink(delay=0.01)
    stats = Pipeline(source, sink, CONFIG).run()
    assert sink.indices == list(range(25))
    assert stats.dropped == 0


def test_slow_sink_on_a_live_source_drops_the_oldest_frames() -> None:
    source = ArraySource(60, live=True, delay=0.002)
    sink = RecordingSink(delay=0.03)
    stats = Pipeline(source, sink, CONFIG).run()
    assert stats.dropped > 0
    # Every frame read is either written or counted as dropped, and order is kept.
    assert stats.frames_read == stats.frames_written + stats.dropped == 60
    assert sink.indices == sorted(sink.indices)
    # Only the newest frames survive: the last one read always reaches the sink.
    assert sink.indices[-1] == 59


def test_live_policy_can_be_forced_on_a_file() -> None:
    pipeline = Pipeline(ArraySource(3), NullSink(), CONFIG, policy=LivePolicy.DROP_OLDEST)
    assert pipeline.policy is LivePolicy.DROP_OLDEST
    assert Pipeline(ArraySource(3), NullSink(), CONFIG).policy is LivePolicy.BLOCK


def test_stop_from_another_thread_returns_promptly() -> None:
    pipeline = Pipeline(ArraySource(None, live=True, delay=0.001), NullSink(), CONFIG)
    timer = threading.Timer(0.2, pipeline.stop)
    timer.start()
    started = time.monotonic()
    stats = pipeline.run()
    timer.join()
    assert time.monotonic() - started < 10
    assert stats.frames_read > 0


def test_resolution_change_mid_stream_rebuilds_buffers() -> None:
    source = ArraySource(12, shapes={6: (30, 50)})
    sink = RecordingSink()
    Pipeline(source, sink, CONFIG).run()
    assert [m.shape for m in sink.masks] == [(48, 64)] * 6 + [(30, 50)] * 6
    for index, mask in zip(sink.indices, sink.masks, strict=True):
        assert np.array_equal(mask, reference(source.image(index), CONFIG))


def test_set_config_applies_from_a_later_frame_without_stopping() -> None:
    new = ThresholdConfig(method="mean", block_size=25, c=-3.0, blur=0)
    source = ArraySource(20)
    pipeline: Pipeline

    def switch(frame: ProcessedFrame) -> None:
        if frame.index == 5:
            pipeline.set_config(new)

    sink = RecordingSink(on_write=switch)
    pipeline = Pipeline(source, sink, CONFIG)
    pipeline.run()
    used = []
    for index, mask in zip(sink.indices, sink.masks, strict=True):
        image = source.image(index)
        if np.array_equal(mask, reference(image, CONFIG)):
            used.append("old")
        else:
            assert np.array_equal(mask, reference(image, new))
            used.append("new")
    assert used == sorted(used, key=lambda u: u == "new"), used  # switches once, for good
    assert used[:6] == ["old"] * 6 and used[-1] == "new"


class AllocationProbe:
    """Measures the peak of traced Python/numpy memory over frames after a warm-up."""

    def __init__(self, warmup: int, copy: bool = False) -> None:
        self.warmup, self.copy = warmup, copy
        self.peak: int | None = None

    def open(self, info: StreamInfo) -> None:
        pass

    def write(self, frame: ProcessedFrame) -> None:
        if self.copy:
            frame.mask.copy()  # a frame-sized allocation per frame, like a careless stage
        if frame.index == self.warmup:
            tracemalloc.start()
            self.start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

    def close(self) -> None:
        if tracemalloc.is_tracing():
            self.peak = tracemalloc.get_traced_memory()[1] - self.start
            tracemalloc.stop()


@pytest.mark.parametrize("copy", [False, True], ids=["pipeline", "control-with-copy"])
def test_no_frame_sized_allocation_in_steady_state(copy: bool) -> None:
    frame_bytes = 320 * 240
    with open_source("testsrc2=size=320x240:rate=30") as source:
        probe = AllocationProbe(warmup=20, copy=copy)
        Pipeline(source, probe, CONFIG, max_frames=120).run()
    assert probe.peak is not None
    if copy:  # the probe must be able to see a frame-sized allocation
        assert probe.peak >= frame_bytes
    else:
        assert probe.peak < frame_bytes // 4, probe.peak


def test_sink_whose_open_fails_is_still_closed() -> None:
    class FailingOpen(RecordingSink):
        def open(self, info: StreamInfo) -> None:
            raise OutputError("no window")

    sink = FailingOpen()
    with pytest.raises(OutputError, match="no window"):
        Pipeline(ArraySource(5), sink, ThresholdConfig()).run()
    assert sink.closed == 1


def test_paced_file_does_not_wait_out_a_long_timestamp_gap(tmp_path: Any) -> None:
    path = tmp_path / "gap.mp4"
    make_video(path, Picture(size=(64, 48)), timing=Timing(pts_ms=[0, 33, 67, 30000, 30033]))
    started = time.monotonic()
    with open_source(str(path), live=True) as source:
        stats = Pipeline(source, NullSink(), ThresholdConfig(), policy=LivePolicy.BLOCK).run()
    assert stats.frames_written == 5
    assert time.monotonic() - started < 15  # not the 30 s of the gap


def test_stop_interrupts_a_paced_source_waiting_for_its_next_frame() -> None:
    # One frame every 20 s: stop() must not wait for the next one to be due.
    with open_source("testsrc2=size=64x48:rate=1/20", live=True) as source:
        sink = RecordingSink()
        pipeline = Pipeline(source, sink, ThresholdConfig())
        timer = threading.Timer(1.0, pipeline.stop)
        timer.start()
        started = time.monotonic()
        pipeline.run()
        timer.join()
    assert time.monotonic() - started < 10
    assert sink.indices == [0]


def test_frames_read_before_a_source_fails_all_reach_the_sink() -> None:
    """Nothing read is lost: a failing source ends the stream, the queues drain, then it raises."""
    for _ in range(20):  # the frames in flight differ from run to run
        sink = RecordingSink(delay=0.002)
        with pytest.raises(InputError, match="broke"):
            Pipeline(ArraySource(None, fail_at=9), sink, ThresholdConfig()).run()
        assert sink.indices == list(range(9)) and sink.closed == 1
