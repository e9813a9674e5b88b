"""Make ``docs/serve.png``: the browser view in headless Chromium, serving the demo's page clip.

Renders the demo's footage (a page with a shadow sweeping across it), serves it with
``livethresh serve`` on 127.0.0.1, opens the page in the system Chromium through Playwright,
switches to the side-by-side view and takes the screenshot the README shows. Run::

    python benchmarks/screenshot_serve.py [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from livethresh.synthetic import write_document_clip

ROOT = Path(__file__).resolve().parents[1]
#: The settings the screenshot shows: a document method on the demo's page.
SETTINGS = ["--method", "sauvola", "--block-size", "31"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Any) -> Any:
    """The distribution's Chromium, headless, without its background traffic (Playwright cannot
    download its own browsers here). The browser view's test uses it too."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = write_document_clip(Path(folder) / "page.mp4", frames=300)
        server = subprocess.Popen(
            [sys.executable, "-m", "livethresh", "serve", str(clip), "--port", "0", *SETTINGS],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert server.stdout is not None
            found = re.search(r"(http://\S+)", server.stdout.readline())
            assert found, "serve did not print its URL"
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1200, "height": 500})
                page.goto(found[1])
                page.check("input[name=view][value=side]")
                page.wait_for_function(
                    "document.getElementById('stream').naturalWidth > 1000", timeout=10_000
                )
                page.wait_for_timeout(1500)  # the stats fill in twice a second
                # The whole page: the control panel is taller than the window.
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            server.send_signal(2)
            server.communicate(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
