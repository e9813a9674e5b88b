"""Where media is read from and written to (``livethresh.locations``): URLs are kept as typed,
refused where only files can go, and a stream address whose port cannot work is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import invoke, one_line


def test_a_url_is_not_mangled_and_not_supported_for_still_images(tmp_path: Path) -> None:
    line = one_line(invoke("image", "http://127.0.0.1:9/page.png", tmp_path / "m.png"))
    assert "'http://127.0.0.1:9/page.png' is a URL: still images are read from files only" in line
    line = one_line(invoke("image", tmp_path / "page.png", "http://127.0.0.1:9/m.png"))
    assert "output 'http://127.0.0.1:9/m.png' is a URL: still images are written to files" in line


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("udp://127.0.0.1:99999", "its port '99999' is not a number from 1 to 65535"),
        ("udp://127.0.0.1:0", "its port 0 is not a port a stream can use"),
        ("srt://127.0.0.1:x", "its port 'x'"),
    ],
)
def test_an_invalid_stream_port_is_refused(tmp_path: Path, url: str, problem: str) -> None:
    line = one_line(invoke("transcode", "testsrc2", url, "--frames", "2"))
    assert f"invalid output URL {url!r}: {problem}" in line
    line = one_line(invoke("bench", url, "--frames", "2"))
    assert f"invalid input URL {url!r}" in line
