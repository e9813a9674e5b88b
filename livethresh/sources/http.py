"""HTTP inputs read by Python, so that a server that hangs up is told from the end of the video.

FFmpeg's own HTTP client treats a connection closed between two chunks of a chunked response
as the end of the stream: a live stream whose server is killed ends "normally", silently
truncated. Python's :mod:`http.client` knows HTTP's framing, so livethresh reads ``http://``
and ``https://`` inputs itself and hands FFmpeg the bytes as a file object:

================================  ==========================================================
the response is framed by...      and when the connection closes early
================================  ==========================================================
``Content-Length``                told apart: fewer bytes than announced is a hang-up
chunked transfer encoding         told apart: no final zero-length chunk is a hang-up
nothing (read until close)        cannot be told apart; as FFmpeg does, it counts as a
                                  hang-up, since such responses are live streams
================================  ==========================================================

A hang-up ends the input like an end of file, with :attr:`HTTPReader.failure` set to a
:class:`ConnectionError` (a stall: :class:`TimeoutError`), which the source reports once every
frame received is delivered: ``'URL' stopped after N frames: ...`` (exit code 2 at the command
line).

Playlists (HLS ``.m3u8``, DASH ``.mpd``) are left to FFmpeg, which fetches their segments
itself. Unlike FFmpeg's client, ``https`` certificates are verified (Python's defaults), and
proxies come from the usual ``http_proxy``/``https_proxy`` variables. As with FFmpeg's
client, an input is seekable (an MP4 with its index at the end) when the server takes byte
ranges.
"""

from __future__ import annotations

import http.client
import io
import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from livethresh.errors import InputError, LivethreshError

logger = logging.getLogger(__name__)

#: Content types of playlists, whose segments FFmpeg must fetch itself.
PLAYLIST_TYPES = frozenset(
    {
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "audio/x-mpegurl",
        "application/dash+xml",
    }
)

#: How livethresh introduces itself (some servers refuse Python's default agent).
USER_AGENT = "livethresh (Lavf-compatible)"

#: Path endings of playlists, recognised before any request.
PLAYLIST_SUFFIXES = (".m3u8", ".m3u", ".mpd")


#: A seek at most this far ahead reads its way there instead of opening a new request.
SKIP_LIMIT = 1 << 20

#: FFmpeg's "seek" that asks for the size of the input instead (``AVSEEK_SIZE``).
AVSEEK_SIZE = 0x10000


def is_http(url: str) -> bool:
    """Whether ``url`` is an ``http://`` or ``https://`` URL that is not a playlist."""
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and not parts.path.lower().endswith(
        PLAYLIST_SUFFIXES
    )


class HTTPReader(io.RawIOBase):
    """A read-only file object over one HTTP(S) URL that raises on a truncated response.

    Args:
        url: The URL.
        timeout: Seconds to wait for the server to answer, and for each read.

    Raises:
        InputError: The server cannot be reached or answers with an error status.
    """

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self.position = 0
        self._response = self._request(0)
        headers = self._response.headers
        self.content_type = headers.get_content_type()
        #: The body's length in bytes, or None when the server does not say.
        self.length: int | None = self._response.length
        self.chunked = bool(self._response.chunked)
        self._ranges = headers.get("Accept-Ranges", "").lower() == "bytes"
        #: Why reading stopped before the end of the response, or None.
        self.failure: OSError | None = None

    def _request(self, offset: int) -> http.client.HTTPResponse:
        request = urllib.request.Request(self.url, headers={"User-Agent": USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise InputError(
                f"cannot open {self.url!r}: the server answered {exc.code} {exc.reason}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {self.timeout:g} s (timed out)"
            raise InputError(f"cannot open {self.url!r}: {reason}") from exc
        if offset and response.status != http.HTTPStatus.PARTIAL_CONTENT:
            response.close()
            raise OSError(f"the server does not resume {self.url!r} at byte {offset}")
        return response  # type: ignore[no-any-return]

    @property
    def is_playlist(self) -> bool:
        """Whether the server answered with a playlist (left to FFmpeg)."""
        return self.content_type in PLAYLIST_TYPES

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # As FFmpeg's own client: seekable only when the server takes byte ranges.
        return self._ranges and self.length is not None

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; 0 at the end of the response, or once it failed.

        A failure is not raised into FFmpeg (PyAV would raise it from wherever FFmpeg happens to
        be, e.g. in the middle of probing, losing the frames already read): the read ends the
        input as an end of file would, and :attr:`failure` says why, for the source to report
        once the frames read so far are delivered.
        """
        if self.failure is not None:
            return 0
        try:
            count = self._response.readinto(buffer)
            if count == 0 and len(buffer):
                self._check_complete()
        except http.client.IncompleteRead as exc:
            # The bytes that did arrive are the stream's: deliver them, then end.
            count = len(exc.partial)
            buffer[:count] = exc.partial
            self.failure = ConnectionError(
                f"the server hung up in the middle of the stream, after "
                f"{self.position + count} bytes (a chunked response without its final chunk)"
            )
        except OSError as exc:  # a timeout, a reset connection, or a hang-up found above
            self.failure = exc
            return 0
        self.position += count
        return count

    def _check_complete(self) -> None:
        """At end of data: raise unless the response's framing says it is complete."""
        remaining = self._response.length  # http.client counts down what Content-Length said
        if remaining:
            raise ConnectionError(
                f"the server hung up after {self.position} of {self.position + remaining} bytes"
            )
        if remaining is None and not self.chunked:
            raise ConnectionError(
                f"the server closed the connection after {self.position} bytes; the response "
                "has no length, so this cannot be told from its end"
            )

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to a byte offset with a range request (a short skip ahead reads its way).

        Returns -1 instead of raising when it fails: FFmpeg takes that as a failed seek and
        carries on as it can (PyAV would print an exception raised here).
        """
        if whence & AVSEEK_SIZE:
            return self.length if self.length is not None else -1
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self.position + offset}.get(whence)
        if whence == io.SEEK_END and self.length is not None:
            target = self.length + offset
        if target is None or target < 0 or not self.seekable():
            return -1
        try:
            if 0 < target - self.position <= SKIP_LIMIT:
                scratch = bytearray(1 << 16)
                while self.position < target and self.failure is None:
                    self.readinto(memoryview(scratch)[: min(len(scratch), target - self.position)])
            elif target != self.position:
                response = self._request(target)
                self._response.close()
                self._response, self.position = response, target
        except (LivethreshError, OSError) as exc:
            logger.debug("seek to %d in %s failed: %s", target, self.url, exc)
            return -1
        return self.position if self.position == target else -1

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
