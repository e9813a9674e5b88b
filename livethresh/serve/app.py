"""The HTTP interface of ``livethresh serve``: a Starlette app over a running pipeline.

Paths, kept stable because scripts and tests use them:

- ``GET /``: the page; ``GET /static/...``: its assets, from the package only;
- ``GET /stream.mjpg``: the masks as ``multipart/x-mixed-replace`` JPEGs (``?view=side``:
  input | mask);
- ``GET /snapshot.png``: the current mask at full size (``?view=side`` too);
- ``GET /api/settings``, ``PATCH /api/settings``: the threshold settings as JSON;
- ``GET /api/stats``: the pipeline's statistics, with the keys of ``livethresh bench --json``;
- ``GET /api/methods``: each method, its description and the settings it uses;
- ``GET /api/events``: server-sent events twice a second: stats, source state, settings;
- ``GET /preset.toml``: the current settings as a preset file for ``--preset PATH``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from livethresh.binarize import method_class
from livethresh.config import ThresholdConfig, to_toml
from livethresh.errors import ConfigError
from livethresh.serve.broadcaster import BOUNDARY, PART_HEADER, Broadcaster, View
from livethresh.serve.security import protect
from livethresh.serve.tuning import BadRequest, changed_config, method_table

#: Largest request body accepted, in bytes: a settings change is a few dozen.
MAX_BODY_BYTES = 16 * 1024
#: Seconds between two server-sent events.
EVENTS_INTERVAL = 0.5
_PACKAGE = "livethresh.serve"
_NO_CACHE = {"Cache-Control": "no-store"}
_STREAMING = {**_NO_CACHE, "X-Accel-Buffering": "no"}


class Controls(Protocol):
    """What the app drives: the session that owns the pipeline."""

    @property
    def config(self) -> ThresholdConfig:
        """The settings in effect."""

    def stats(self) -> dict[str, Any]:
        """The pipeline's statistics (``Stats.to_dict()``)."""

    async def apply(self, config: ThresholdConfig) -> None:
        """Use ``config`` from the next frame on."""


def create_app(
    controls: Controls,
    broadcaster: Broadcaster,
    token: str | None = None,
    host: str | None = None,
) -> ASGIApp:
    """The ASGI app serving ``broadcaster``'s frames and tuning ``controls``.

    Args:
        controls: The session: settings, stats, applying a change.
        broadcaster: Where the frames come from.
        token: When set, every request must carry it; else only loopback ``Host`` names are
            accepted (:func:`~livethresh.serve.security.protect`).
        host: The address the server listens on, accepted as a ``Host`` name when loopback.
    """
    page = resources.files(_PACKAGE).joinpath("static", "index.html").read_text("utf-8")
    # The page's own requests carry the token it was opened with: its assets here, the rest
    # in app.js.
    query = "?token=" + urllib.parse.quote(token, safe="") if token else ""
    page = page.replace("{{QUERY}}", query)
    settings_lock = asyncio.Lock()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=_NO_CACHE)

    async def stream(request: Request) -> Response:
        view = _view(request)
        return StreamingResponse(
            _parts(broadcaster, view),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers=_STREAMING,
        )

    async def snapshot(request: Request) -> Response:
        png = await broadcaster.snapshot_png(_view(request))
        if png is None:
            return _error(503, "no frame yet: the source has not delivered one")
        headers = dict(_NO_CACHE)
        if "download" in request.query_params:
            name = time.strftime("livethresh-%Y%m%d-%H%M%S-mask.png")
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(png, media_type="image/png", headers=headers)

    async def settings(request: Request) -> Response:
        if request.method == "PATCH":
            async with settings_lock:  # one change at a time, each from the latest settings
                config = changed_config(controls.config, await request.body())
                if config != controls.config:
                    await controls.apply(config)
        return JSONResponse(controls.config.to_dict(), headers=_NO_CACHE)

    async def stats(request: Request) -> Response:
        return JSONResponse(controls.stats(), headers=_NO_CACHE)

    async def methods(request: Request) -> Response:
        return JSONResponse(method_table())

    async def events(request: Request) -> Response:
        return StreamingResponse(
            _events(controls, broadcaster), media_type="text/event-stream", headers=_STREAMING
        )

    async def preset(request: Request) -> Response:
        config = controls.config
        described = method_class(config.method).describe(config)
        text = to_toml(config, f"Tuned in livethresh serve: {described}")
        name = time.strftime("livethresh-preset-%Y%m%d-%H%M%S.toml")
        headers = {**_NO_CACHE, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(text, media_type="application/toml", headers=headers)

    routes = [
        Route("/", index),
        Route("/stream.mjpg", stream),
        Route("/snapshot.png", snapshot),
        Route("/api/settings", settings, methods=["GET", "PATCH"]),
        Route("/api/stats", stats),
        Route("/api/methods", methods),
        Route("/api/events", events),
        Route("/preset.toml", preset),
        # StaticFiles resolves each path and refuses any outside the package's assets.
        Mount("/static", StaticFiles(packages=[(_PACKAGE, "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        max_body_size=MAX_BODY_BYTES,
        # A refused value is 422, worded as on the command line; nothing has changed.
        exception_handlers={BadRequest: _answer(400), ConfigError: _answer(422)},
    )

    async def in_loop(scope: Scope, receive: Receive, send: Send) -> None:
        # The broadcaster learns the server's loop from the requests themselves, not from a
        # lifespan task, which a forced shutdown (a second Ctrl-C) would leave to be cancelled.
        broadcaster.attach(asyncio.get_running_loop())
        await app(scope, receive, send)

    return protect(in_loop, token, host)


def _view(request: Request) -> View:
    try:
        return View(request.query_params.get("view", View.MASK))
    except ValueError:
        raise BadRequest(f"view must be one of {', '.join(View)}") from None


def _answer(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler answering ``status`` with the exception's message."""

    async def handle(request: Request, exc: Exception) -> Response:
        return _error(status, str(exc))

    return handle


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_CACHE)


async def _parts(broadcaster: Broadcaster, view: View) -> AsyncIterator[bytes]:
    """One viewer's stream: the latest frame each time the previous one has been sent."""
    broadcaster.add_viewer()
    try:
        yield PART_HEADER.removeprefix(b"\r\n")  # the first part's header
        seq = 0
        while (got := await broadcaster.next_part(view, seq)) is not None:
            seq, part = got
            yield part
    finally:
        broadcaster.remove_viewer()


async def _events(controls: Controls, broadcaster: Broadcaster) -> AsyncIterator[str]:
    """Server-sent events: the stats, the frame rate of the last interval, the frames dropped
    since this page opened, the viewers, the source's state and the settings (so that every
    open page follows a change)."""
    frames, when = None, time.monotonic()
    # Frames dropped before the page was open (while a browser starts on the same machine, or
    # before anyone watched) were never going to be seen: the page counts its own.
    dropped_before = controls.stats()["dropped"]
    while True:
        stats = controls.stats()
        now = time.monotonic()
        recent = None if frames is None else (stats["frames"] - frames) / max(now - when, 1e-6)
        frames, when = stats["frames"], now
        event = {
            "stats": stats,
            "fps_now": None if recent is None else round(recent, 1),
            "dropped_here": stats["dropped"] - dropped_before,
            "viewers": broadcaster.viewers,
            "encoded": dict(broadcaster.encodes),
            "source": {"state": broadcaster.state, "message": broadcaster.message},
            "settings": controls.config.to_dict(),
        }
        yield f"data: {json.dumps(event)}\n\n"
        if await broadcaster.sleep(EVENTS_INTERVAL):
            return
