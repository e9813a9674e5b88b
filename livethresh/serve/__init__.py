"""The browser view: watch and tune the masks of a running pipeline from any browser.

:func:`run_serve` runs a source through the pipeline into a
:class:`~livethresh.serve.broadcaster.Broadcaster` and serves it with uvicorn: the ASGI app in
:mod:`~livethresh.serve.app`, its access rules in :mod:`~livethresh.serve.security`, the
settings' JSON and the page's controls in :mod:`~livethresh.serve.tuning`, and the page itself
in ``static/`` (plain HTML, CSS and JavaScript, no CDN: it works offline).
"""

from livethresh.serve.app import create_app
from livethresh.serve.broadcaster import Broadcaster, SourceState, View
from livethresh.serve.session import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServeError,
    ServeResult,
    ServeSession,
    bind,
    run_serve,
    server_url,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Broadcaster",
    "ServeError",
    "ServeResult",
    "ServeSession",
    "SourceState",
    "View",
    "bind",
    "create_app",
    "run_serve",
    "server_url",
]
