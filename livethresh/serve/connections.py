"""The server's connections: uvicorn's HTTP/1.1 protocol with a deadline to send a request and a
cap on how many connections are open.

uvicorn has neither: its keep-alive timer only runs between two requests, and any byte received
stops it, so a client that sends half a request header, or nothing at all, holds its connection
(and a file descriptor) for ever, without a token. A few hundred such connections exhaust the
process's descriptors, and asyncio then logs every failed ``accept()``.

:class:`GuardedH11Protocol` closes a connection that has not sent a whole request within
:data:`REQUEST_SECONDS` of connecting (or of its previous response). uvicorn's own
``limit_concurrency`` caps the connections (beyond it, uvicorn answers 503); when a new one comes
at the cap, the oldest connection still waiting for its request is closed to make room, so
half-sent requests cannot crowd out a real one. Streams that are being served are never closed.
The cap leaves room for the connections asyncio accepts in one go (:func:`connection_cap`), and
:class:`RepeatFilter` keeps asyncio's and uvicorn's repeated lines to one a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a connection has to send a whole request (its header and body) once it is open or
#: its previous response is complete. A browser sends one at once.
REQUEST_SECONDS = 10.0
#: Connections open at once, at most: a page holds two (its stream and its events) and a few
#: short requests. Lowered to fit the process's file descriptor limit (:func:`connection_cap`).
MAX_CONNECTIONS = 100
#: Connections allowed whatever the descriptor limit: one page needs a few at once.
MIN_CONNECTIONS = 8
#: File descriptors kept for everything else: the source, the listening socket, libraries.
RESERVED_DESCRIPTORS = 64
#: Connections the kernel queues until they are accepted, and asyncio accepts in one go
#: (before any can be closed again).
LISTEN_BACKLOG = 128

#: Loggers a flood could fill: asyncio's failed accepts, uvicorn's refused requests.
FLOODABLE_LOGGERS = ("asyncio", "uvicorn.error")


def connection_cap(limit: int = MAX_CONNECTIONS) -> int:
    """``limit``, lowered so that the connections cannot use up the file descriptors."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return limit
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limit
    return max(MIN_CONNECTIONS, min(limit, soft - RESERVED_DESCRIPTORS - LISTEN_BACKLOG))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request and room made at the cap."""

    _deadline: asyncio.TimerHandle | None = None
    _since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = time.monotonic()
        self._arm()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting:
            self._arm(restart=False)
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._since = time.monotonic()
        if self.waiting:  # the next request, on the same connection
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    @property
    def waiting(self) -> bool:
        """Whether the connection is still to send (the rest of) a request."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _arm(self, restart: bool = True) -> None:
        if self._deadline is not None:
            if not restart:
                return
            self._deadline.cancel()
        self._deadline = self.loop.call_later(REQUEST_SECONDS, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.waiting:
            self._close()

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        """At the cap, close the connections waiting longest for their request, if any."""
        cap = self.config.limit_concurrency
        if cap is None:
            return
        guarded = [c for c in self.connections if isinstance(c, GuardedH11Protocol)]
        still_open = [c for c in guarded if not c.transport.is_closing()]
        excess = len(still_open) - cap + 1  # uvicorn refuses a request once `cap` are open
        if excess > 0:
            idle = sorted((c for c in still_open if c is not self and c.waiting), key=_age)
            for connection in idle[:excess]:
                connection._close()


def _age(connection: GuardedH11Protocol) -> float:
    return connection._since


class RepeatFilter(logging.Filter):
    """Lets each message through once per ``interval`` seconds: a flood of failed
    ``accept()`` calls or of refused requests is one line, not megabytes.

    Args:
        interval: Seconds during which a message already logged is dropped.
    """

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, int, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        if len(self._last) > 1000:  # messages with their details in them: keep it bounded
            self._last.clear()
        self._last[key] = now
        return True
