"""The page in a real headless Chromium: the image updates, the controls tune the masks."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

# The screenshot script launches the same system Chromium with the same flags.
from benchmarks.screenshot_serve import CHROMIUM, launch_chromium
from livethresh.binarize import Binarizer
from livethresh.config import ThresholdConfig
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
