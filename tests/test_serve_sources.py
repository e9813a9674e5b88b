"""A served source over its life (``livethresh.serve.broadcaster``, ``serve.session``): a file
waits for its first viewer, a finished source holds its last frame, a failing one is shown, no
frame is encoded while nobody watches, a file over HTTP keeps its rate, and the page counts the
frames dropped since it opened."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from livethresh.binarize import Binarizer
from livethresh.config import ThresholdConfig
from livethresh.frames import SourceKind, StreamInfo
from livethresh.serve.broadcaster import PART_HEADER, SourceState
from livethresh.sources import open_source
from livethresh.synthetic import write_document_clip
from tests.helpers import ArraySource, document_frame
from tests.live_server import (
    PATTERN,
    dechunk,
    decode_png,
    first_event,
    frame_indices,
    open_stream,
    read_parts,
    serving,
    wait_for,
)


def test_a_finished_source_holds_its_last_frame_and_still_tunes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = "lavfi:testsrc2=size=160x120:rate=30:duration=0.5"
    with (
        caplog.at_level(logging.WARNING, "livethresh"),
        open_source(spec, live=True) as source,
        serving(source) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        assert re.search(r"ended after 1[0-5] frames", broadcaster.message)
        event = first_event(running.port)
        assert event["source"] == {"state": "ended", "message": broadcaster.message}
        side = decode_png(running.get("/snapshot.png?view=side")[1])
        gray, mask = side[:, :160], side[:, 160:]
        assert broadcaster.latest_index == 14
        changed = b'{"method": "sauvola", "block_size": 15}'
        assert running.request("PATCH", "/api/settings", changed)[0] == 200
        new = ThresholdConfig(method="sauvola", block_size=15)
        with Binarizer(new, gray.shape) as binarize:
            expected = binarize(gray)
        assert not np.array_equal(mask, expected)
        assert np.array_equal(decode_png(running.get("/snapshot.png")[1]), expected)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livethresh.serve")]
    assert lines == [broadcaster.message]


def test_a_viewer_who_comes_after_the_end_gets_the_held_frame_complete() -> None:
    spec = "lavfi:testsrc2=size=160x120:rate=30:duration=0.5"
    with open_source(spec, live=True) as source, serving(source) as running:
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        held = decode_png(running.get("/snapshot.png")[1])
        sock = open_stream(running.port)
        try:
            sock.settimeout(5)
            data = b""
            # No frame comes after the held one: the part must be whole without another, up
            # to the header of the next part, which is what makes a browser show it.
            while data.count(PART_HEADER.removeprefix(b"\r\n")) < 2:
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
        finally:
            sock.close()
    body = dechunk(data.partition(b"\r\n\r\n")[2])
    opening = PART_HEADER.removeprefix(b"\r\n")
    assert body.startswith(opening) and body.endswith(PART_HEADER)
    jpeg = body[len(opening) : -len(PART_HEADER)]
    assert jpeg[:2] == b"\xff\xd8" and jpeg.endswith(b"\xff\xd9")
    assert b"X-Frame-Index: 14" in jpeg[:64]  # the frame's index, as a JPEG comment
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.mean((shown > 127) != (held > 127)) < 0.02


def test_a_file_waits_for_its_first_viewer_then_plays_from_its_start(tmp_path: Path) -> None:
    clip = write_document_clip(tmp_path / "clip.mp4", frames=10, height=120, width=160)
    with (
        open_source(str(clip), live=True) as source,
        serving(source, first_frame=False) as running,
    ):
        broadcaster = running.session.broadcaster
        time.sleep(1.0)  # three times the clip's length: nobody watches, so it has not started
        assert broadcaster.published == 0
        assert first_event(running.port)["source"]["state"] == "starting"
        viewer = open_stream(running.port)
        try:
            parts = read_parts(viewer, 5.0, until=lambda index: index == 9)
        finally:
            viewer.close()
        indices = [index for index, _ in parts]
        assert indices[0] <= 1 and indices[-1] == 9, indices
        wait_for(lambda: broadcaster.state is SourceState.ENDED)


def test_a_failing_source_is_shown_and_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    camera = ArraySource(None, live=True, fail_at=3)
    camera.info = dataclasses.replace(camera.info, kind=SourceKind.CAMERA)
    with (
        caplog.at_level(logging.WARNING, "livethresh"),
        serving(camera) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.FAILED)
        assert broadcaster.message == ("the source failed: the fake source broke")
        assert running.get("/snapshot.png")[0] == 200  # the last frame is still there
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livethresh.serve")]
    assert lines == ["the source failed: the fake source broke; the page keeps its last frame"]


def test_nothing_is_encoded_while_nobody_watches() -> None:
    with open_source(PATTERN, live=True) as source, serving(source) as running:
        broadcaster = running.session.broadcaster
        time.sleep(0.5)
        assert broadcaster.published > 5 and sum(broadcaster.encodes.values()) == 0
        viewer = open_stream(running.port)
        try:
            seen = frame_indices(viewer, 1.0)
        finally:
            viewer.close()
        encoded = sum(broadcaster.encodes.values())
        assert len(seen) >= 10 and 0 < encoded <= broadcaster.published
        wait_for(lambda: broadcaster.viewers == 0)
        published = broadcaster.published
        time.sleep(0.5)
        assert broadcaster.published > published  # the pipeline goes on...
        assert sum(broadcaster.encodes.values()) <= encoded + 1  # ...but nothing is encoded


@contextlib.contextmanager
def http_files(folder: Path) -> Iterator[str]:
    """A plain HTTP server of ``folder`` on 127.0.0.1, in a thread; yields its base URL."""
    handler = functools.partial(QuietFiles, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/"
        finally:
            httpd.shutdown()
            thread.join(5)


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_file_over_http_plays_at_its_own_rate_like_a_local_one(tmp_path: Path) -> None:
    frames, fps = 45, 30
    write_document_clip(tmp_path / "clip.ts", frames=frames, height=120, width=160, fps=fps)
    with (
        http_files(tmp_path) as base,
        open_source(base + "clip.ts", live=True) as source,
        serving(source) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        stats = running.session.pipeline.stats
    # Read as fast as the network allows, the clip would be over in a blink, most of its
    # frames dropped as stale; paced, it takes its 1.5 s and (nearly) every frame is shown.
    assert stats.wall_s >= 0.8 * frames / fps
    assert stats.frames_written >= 0.8 * frames


class BurstThenPaced:
    """A live source whose first frames come all at once (as when the machine is busy while
    the server starts), then one every frame interval."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.info = StreamInfo(
            "burst", 160, 120, Fraction(30), is_live=True, kind=SourceKind.CAMERA
        )
        self.decode_errors = 0
        self.image = document_frame(120, 160)

    def frames(self) -> Iterator[np.ndarray]:
        for _ in range(self.burst):
            yield self.image
        while True:
            time.sleep(1 / 30)
            yield self.image

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> BurstThenPaced:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_page_counts_only_the_frames_dropped_since_it_opened() -> None:
    with serving(BurstThenPaced(burst=60)) as running:
        stats = running.session.pipeline.stats
        wait_for(lambda: stats.frames_read > 70)
        assert stats.dropped > 0  # the burst, before anyone watched
        event = first_event(running.port)
        assert event["stats"]["dropped"] > 0  # the pipeline's own count keeps them
        assert event["dropped_here"] == 0
