"""The page in a real headless Chromium: the image updates, the controls tune the masks."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import pytest

# The screenshot script launches the same system Chromium with the same flags.
from benchmarks.screenshot_serve import CHROMIUM, launch_chromium
from livethresh.binarize import Binarizer
from livethresh.config import ThresholdConfig
from livethresh.frames import StreamInfo
from livethresh.serve.broadcaster import SourceState
from livethresh.serve.session import ServeSession, bind
from livethresh.sources import open_source


def missing(what: str) -> None:
    """Skip where ``what`` is not installed, but fail in CI, which installs it (.ci/run)."""
    message = f"{what} is not installed; .ci/run installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (the [test] extra)")
    if not os.path.exists(CHROMIUM):
        missing("Chromium (Debian package chromium)")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def serving(token: str | None = None) -> Iterator[str]:
    """A session on a live pattern, serving in a thread; yields its URL."""
    with (
        contextlib.closing(bind("127.0.0.1", 0)) as sock,
        open_source("testsrc2=size=320x240:rate=15", live=True) as source,
    ):
        session = ServeSession(source, ThresholdConfig(), sock, token)
        thread = threading.Thread(target=session.run, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
        finally:
            session.stop()
            thread.join(10)


@pytest.fixture
def server() -> Iterator[str]:
    with serving() as url:
        yield url


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        data: bytes = response.read()
        return data


@pytest.mark.slow
def test_page_streams_and_its_controls_tune_the_masks(browser: Any, server: str) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    try:
        page.goto(server)
        page.wait_for_function("document.getElementById('stream').naturalWidth > 0", timeout=10_000)
        first = page.locator("#stream").screenshot()
        deadline = time.monotonic() + 5
        while page.locator("#stream").screenshot() == first:
            assert time.monotonic() < deadline, "the image never changed"
            time.sleep(0.2)
        page.wait_for_function(
            "document.getElementById('fps').textContent !== '\u2013'", timeout=5000
        )

        # k shows for sauvola only, C for the mean methods only.
        page.select_option("#set-method", "sauvola")
        page.wait_for_selector("#row-k", state="visible")
        assert page.locator("#row-c").is_hidden()
        page.select_option("#set-method", "mean")
        page.wait_for_selector("#row-c", state="visible")
        assert page.locator("#row-k").is_hidden()
        page.fill("#set-block_size", "25")
        page.press("#set-block_size", "Enter")
        page.locator("#set-c").focus()  # leaving the field commits it, as a user would

        expected = ThresholdConfig(method="mean", block_size=25)
        deadline = time.monotonic() + 5
        while json.loads(fetch(server + "api/settings")) != expected.to_dict():
            assert time.monotonic() < deadline, "the page never sent the change"
            time.sleep(0.1)
        # The next snapshots are binarized with the new settings: the right half (the mask) is
        # exactly what the library makes of the left half (its input).
        deadline = time.monotonic() + 5
        while True:
            side = cv2.imdecode(
                np.frombuffer(fetch(server + "snapshot.png?view=side"), np.uint8),
                cv2.IMREAD_UNCHANGED,
            )
            gray, mask = side[:, :320], side[:, 320:]
            with Binarizer(expected, gray.shape) as binarize:
                if np.array_equal(mask, binarize(gray)):
                    break
            assert time.monotonic() < deadline, "the snapshots never showed the new settings"
            time.sleep(0.1)
        with Binarizer(ThresholdConfig(), gray.shape) as before:
            assert not np.array_equal(mask, before(gray))
        assert page.locator("#error").is_hidden()

        # A refused value is shown on the page and changes nothing.
        page.fill("#set-block_size", "4")
        page.press("#set-block_size", "Enter")
        page.wait_for_selector("#error", state="visible")
        assert "invalid block_size 4" in page.locator("#error").text_content()
        assert json.loads(fetch(server + "api/settings")) == expected.to_dict()
    finally:
        page.close()


@pytest.mark.slow
def test_the_page_passes_its_token_to_everything_it_loads(browser: Any) -> None:
    with serving(token="tok-42") as url:
        page = browser.new_page()
        try:
            refused: list[str] = []
            page.on("response", lambda r: r.status == 401 and refused.append(r.url))
            page.goto(url + "?token=tok-42")
            page.wait_for_function(
                "document.getElementById('stream').naturalWidth > 0", timeout=10_000
            )
            page.wait_for_function(
                "document.getElementById('fps').textContent !== '\u2013'", timeout=5000
            )
            page.select_option("#set-method", "otsu")
            auth = {"Authorization": "Bearer tok-42"}
            deadline = time.monotonic() + 5
            while json.loads(fetch(url + "api/settings", auth))["method"] != "otsu":
                assert time.monotonic() < deadline, "the change never arrived"
                time.sleep(0.1)
            assert refused == []
        finally:
            page.close()


class PushedSource:
    """A live source that delivers a frame only when the test pushes one, then waits: what the
    page shows can only be the frame last sent, never one that came after it."""

    def __init__(self, height: int, width: int) -> None:
        self.info = StreamInfo("pushed", width, height, Fraction(30), is_live=True)
        self.decode_errors = 0
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue()

    def push(self, image: np.ndarray) -> None:
        self._frames.put(image)

    def end(self) -> None:
        self._frames.put(None)

    def interrupt(self) -> None:
        self.end()

    def frames(self) -> Iterator[np.ndarray]:
        while (image := self._frames.get()) is not None:
            yield image

    def close(self) -> None:
        pass

    def __enter__(self) -> PushedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


#: What the image element displays, read back through a canvas at the image's own size.
SHOWN_PIXELS = """() => {
  const img = document.getElementById('stream');
  if (!img.complete || !img.naturalWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  return [canvas.width, canvas.height, Array.from(rgba.filter((_, i) => i % 4 === 0))];
}"""


def shown(page: Any) -> np.ndarray | None:
    """The pixels the page's image element displays (gray), or None while it shows nothing."""
    got = page.evaluate(SHOWN_PIXELS)
    if got is None:
        return None
    width, height, values = got
    return np.array(values, np.uint8).reshape(height, width)


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels on opposite sides of mid-gray (JPEG blurs a mask's edges a little)."""
    if a.shape != b.shape:
        return 1.0
    return float(np.mean((a > 127) != (b > 127)))


def assert_page_shows(page: Any, expected: np.ndarray, seconds: float = 5.0) -> None:
    """The page displays ``expected`` within ``seconds``, without another frame coming."""
    deadline = time.monotonic() + seconds
    while True:
        displayed = shown(page)
        if displayed is not None and disagreement(displayed, expected) < 0.02:
            return
        if time.monotonic() > deadline:
            seen = (
                "nothing" if displayed is None else f"{disagreement(displayed, expected):.0%} off"
            )
            pytest.fail(f"the page does not show the mask in effect: it shows {seen}")
        time.sleep(0.1)


def mask_of(gray: np.ndarray, config: ThresholdConfig) -> np.ndarray:
    with Binarizer(config, gray.shape) as binarize:
        return binarize(gray).copy()


def patch_settings(url: str, changes: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url + "api/settings", data=json.dumps(changes).encode(), method="PATCH"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.mark.slow
def test_the_page_displays_the_mask_in_effect_live_and_after_the_source_ended(
    browser: Any,
) -> None:
    height, width = 120, 160
    across = np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1)).astype(np.uint8)
    down = np.tile(np.linspace(0, 255, height, dtype=np.float32)[:, None], (1, width))
    down = down.astype(np.uint8)
    config = ThresholdConfig(method="fixed", threshold=128)
    source = PushedSource(height, width)
    with contextlib.closing(bind("127.0.0.1", 0)) as sock:
        session = ServeSession(source, config, sock)
        thread = threading.Thread(target=session.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        page = browser.new_page()
        try:
            page.goto(url)
            page.wait_for_function("document.getElementById('viewers').textContent === '1'")
            # Live: each frame is on the page as soon as it is sent, not when the next comes.
            source.push(across)
            assert_page_shows(page, mask_of(across, config))
            config = config.replace(invert=True)
            patch_settings(url, {"invert": True})
            source.push(down)
            assert_page_shows(page, mask_of(down, config))

            # Ended: the page holds the last frame, and every change re-binarizes it.
            source.end()
            deadline = time.monotonic() + 5
            while session.broadcaster.state is not SourceState.ENDED:
                assert time.monotonic() < deadline, "the source never ended"
                time.sleep(0.05)
            for changes in ({"invert": False}, {"invert": True}, {"method": "mean"}):
                before = mask_of(down, config)
                config = config.replace(**changes)
                assert disagreement(before, mask_of(down, config)) > 0.2  # a visible change
                patch_settings(url, changes)
                assert_page_shows(page, mask_of(down, config))

            # A page opened after the end shows the held frame too.
            late = browser.new_page()
            try:
                late.goto(url)
                assert_page_shows(late, mask_of(down, config))
            finally:
                late.close()
        finally:
            page.close()
            session.stop()
            thread.join(10)
