"""A serve session: the pipeline in a thread, uvicorn in the main thread, the port, the signals.

The pipeline's output thread feeds a :class:`~livethresh.serve.broadcaster.Broadcaster`; the app
reads frames from it and tunes the pipeline. Ctrl-C, SIGTERM and SIGHUP end every stream at
once (so uvicorn's graceful shutdown has no endless response to wait for), stop the pipeline,
and the run returns 130, 143 or 129 (:mod:`livethresh.runs`). A file starts playing when the
first viewer opens the stream. A source that ends or fails leaves the server up, holding the
last frame: the page says so, the log has one line, and a settings change still re-binarizes
that frame, so a short clip can be tuned to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import uvicorn

from livethresh.binarize import Binarizer
from livethresh.config import ThresholdConfig
from livethresh.errors import LivethreshError
from livethresh.frames import SourceKind
from livethresh.pipeline import Pipeline
from livethresh.runs import RunOutcome, stop_on_signals
from livethresh.serve.app import create_app
from livethresh.serve.broadcaster import Broadcaster, SourceState
from livethresh.serve.connections import (
    FLOODABLE_LOGGERS,
    LISTEN_BACKLOG,
    GuardedH11Protocol,
    RepeatFilter,
    connection_cap,
)
from livethresh.serve.replay import Replay
from livethresh.serve.security import required_token, url_host
from livethresh.sources import FrameSource, open_source
from livethresh.stats import Stats

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Kernel send buffer of each connection (Linux doubles it): a few 720p masks. Left alone, the
#: kernel grows it to megabytes, where a stalled viewer would find seconds of old frames once
#: it reads again.
SEND_BUFFER_BYTES = 64 * 1024
#: Seconds the streams get to end on their own at shutdown before their connections are cut.
STREAM_END_SECONDS = 0.5
#: Seconds uvicorn may then wait for open responses; bounds a stuck one.
GRACEFUL_SECONDS = 1
#: Seconds to wait for the pipeline's thread once stopped.
PIPELINE_JOIN_SECONDS = 10.0


class ServeError(LivethreshError):
    """The server cannot start: its port is taken, or its address cannot be bound."""


@dataclass(frozen=True)
class ServeResult(RunOutcome):
    """How a session ended: the pipeline's statistics, the last settings, the signal."""

    stats: Stats
    config: ThresholdConfig
    signal: int | None = None


def server_url(host: str, port: int, token: str | None = None) -> str:
    """The URL to open, working as printed: with the token in it (URL-encoded), and this
    machine's name for a wildcard host."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    query = "?token=" + urllib.parse.quote(token, safe="") if token else ""
    return f"http://{url_host(host)}:{port}/{query}"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound before anything else starts.

    Raises:
        ServeError: The port is in use, or the address cannot be bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use: stop the other server or choose "
                "another port with --port"
            ) from None
        raise ServeError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    return sock


def run_serve(
    source: str,
    config: ThresholdConfig,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    size: tuple[int, int] | str | None = None,
    rate: float | None = None,
    input_format: str | None = None,
    loop: bool = False,
    announce: Callable[[str], None] = logger.warning,
) -> ServeResult:
    """Serve a source's masks and their tuning to browsers until Ctrl-C or SIGTERM.

    Args:
        source: Anything :func:`~livethresh.sources.open_source` reads; files and patterns
            play at their native rate, as a camera would deliver them, and a file from the
            moment the first viewer opens the stream.
        config: The settings to start with.
        host: Address to listen on. Beyond loopback a token is required (one is generated
            when ``token`` is None).
        port: Port to listen on; 0 picks a free one.
        token: Required from every request when set.
        size, rate, input_format: What to ask a camera or pattern for.
        loop: Play the source again from its start each time it ends (a file).
        announce: Called once with the URL to open, when the server is about to start.

    Raises:
        ServeError: The port is taken or the address cannot be bound.
        ConfigError: The token is unusable.
        InputError: The source cannot be opened.
    """
    token = required_token(host, token)

    def open_it() -> FrameSource:
        return open_source(source, live=True, size=size, rate=rate, input_format=input_format)

    with contextlib.closing(bind(host, port)) as sock, open_it() as opened:
        frames = Replay(opened, open_it) if loop else opened
        with frames:
            session = ServeSession(frames, config, sock, token)
            announce(server_url(host, sock.getsockname()[1], token))
            received = session.run()
    return ServeResult(session.pipeline.stats, session.config, received)


class ServeSession:
    """Runs ``source`` through the binarizer and serves the masks until stopped.

    Args:
        source: An open source; the caller closes it.
        config: The settings to start with.
        sock: The listening socket (see :func:`bind`); the caller closes it.
        token: Required from every request when set.
        max_connections: Connections open at once, at most (see
            :mod:`~livethresh.serve.connections`); None: :func:`connection_cap`'s.
    """

    def __init__(
        self,
        source: FrameSource,
        config: ThresholdConfig,
        sock: socket.socket,
        token: str | None = None,
        *,
        max_connections: int | None = None,
    ) -> None:
        self.config = config
        self.sock = sock
        self.broadcaster = Broadcaster()
        self.pipeline = Pipeline(source, self.broadcaster, config)
        app = create_app(self, self.broadcaster, token, host=sock.getsockname()[0])
        self._server = _Server(
            uvicorn.Config(
                app,
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
                # A deadline for each request and room for new ones at the cap: uvicorn has
                # neither (connections.py).
                http=GuardedH11Protocol,
                limit_concurrency=max_connections or connection_cap(),
                backlog=LISTEN_BACKLOG,
            )
        )
        self._thread = threading.Thread(
            target=self._run_pipeline, name="livethresh-serve", daemon=True
        )
        self._stopping = False
        # Whether changes go to the running pipeline, and whether one did: decided under the
        # lock, so that a change made as the source ends is applied to the held frame.
        self._handover = threading.Lock()
        self._pipeline_running = True
        self._changed_while_running = False

    # -- what the app drives ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self.pipeline.stats.to_dict()

    async def apply(self, config: ThresholdConfig) -> None:
        """Use ``config`` from the next frame; once the source has ended, redo its last frame."""
        self.config = config
        await anyio.to_thread.run_sync(self._apply, config)

    def _apply(self, config: ThresholdConfig) -> None:
        with self._handover:
            if self._pipeline_running:
                self.pipeline.set_config(config)
                self._changed_while_running = True
                return
        self._rebinarize_last(config)

    def _rebinarize_last(self, config: ThresholdConfig) -> None:
        held = self.broadcaster.latest_gray()
        if held is not None:
            gray, index = held
            with Binarizer(config, (gray.shape[0], gray.shape[1])) as binarize:
                self.broadcaster.publish(binarize(gray), gray, index)

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> int | None:
        """Serve until Ctrl-C, SIGTERM or :meth:`stop`; the signal that ended it, if any.

        Signals are handled when called from the main thread; from another, :meth:`stop` ends
        the run.
        """
        received: list[int] = []
        repeats = RepeatFilter()
        loggers = [logging.getLogger(name) for name in FLOODABLE_LOGGERS]
        for each in loggers:
            each.addFilter(repeats)
        try:
            with stop_on_signals(self.stop, received, force=self._force_stop):
                self._thread.start()
                if not self._stopping:
                    self._server.run(sockets=[self.sock])
        finally:
            self.stop()
            self._thread.join(PIPELINE_JOIN_SECONDS)
            for each in loggers:
                each.removeFilter(repeats)
        return received[0] if received else None

    def stop(self) -> None:
        """End the run soon; from any thread."""
        self._stopping = True
        self._server.should_exit = True
        self.broadcaster.shutdown()
        self.pipeline.stop()

    def _force_stop(self) -> None:
        """A second signal: stop waiting for connections to close."""
        self._server.force_exit = True

    def _run_pipeline(self) -> None:
        if self.pipeline.source.info.kind is SourceKind.FILE:
            # A file plays from its start for the first viewer: a short clip would otherwise
            # be over before anyone opens the page.
            self.broadcaster.watched.wait()
            if self._stopping:
                return
        try:
            stats = self.pipeline.run()
        except Exception as exc:
            self._hand_over()
            message = f"the source failed: {exc}"
            logger.error("%s; the page keeps its last frame", message)
            self.broadcaster.finish(SourceState.FAILED, message)
            return
        self._hand_over()
        if not self._stopping:
            message = (
                f"the source ended after {stats.frames_written} frames; the page holds the last "
                "one, and setting changes still apply to it"
            )
            logger.warning(message)
            self.broadcaster.finish(SourceState.ENDED, message)

    def _hand_over(self) -> None:
        """The pipeline has stopped: changes now re-binarize the held frame. One made while it
        was stopping may have come after its last frame, so that frame is redone once."""
        with self._handover:
            self._pipeline_running = False
            redo = self._changed_while_running
        if redo and not self._stopping:
            self._rebinarize_last(self.config)


class _Server(uvicorn.Server):
    """uvicorn's server, leaving signals to the session and cutting stalled viewers at the end."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The session's handlers stay: uvicorn would replace them, then raise the signals again
        # once stopped, which ends a process by SIGTERM rather than with exit code 143.
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Let the streams end (the broadcaster has ended them), then cut the connections
        still open: a viewer whose socket is full cannot even take the end of its response."""
        deadline = time.monotonic() + STREAM_END_SECONDS
        while self._responding() and time.monotonic() < deadline and not self.force_exit:
            await asyncio.sleep(0.05)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()
        await super().shutdown(sockets)

    def _responding(self) -> bool:
        return any(
            getattr(getattr(c, "cycle", None), "response_complete", True) is False
            for c in self.server_state.connections
        )
