"""Who may use the browser view: loopback by default, a token as soon as a network can reach it.

The rules: the server binds to 127.0.0.1 unless told otherwise; a ``--host`` beyond loopback
needs a token, and gets a generated one when none is given, so it is never open to a network
without one; with a token, every path answers 401 unless the request carries it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN``; without a token (so on loopback), a
request must name this machine in its ``Host`` header, so that a web page cannot reach the
server by pointing a domain of its own at 127.0.0.1 (DNS rebinding). Files come only from the
package's own assets, through Starlette's ``StaticFiles`` (see :mod:`livethresh.serve.app`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import urllib.parse

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from livethresh.errors import ConfigError

#: Random bytes in a generated token (base64url: 24 characters).
TOKEN_BYTES = 18
#: ``Host`` header names of this machine, accepted from requests without a token.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether a server bound to ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def required_token(host: str, token: str | None) -> str | None:
    """The token requests must carry: ``token``, or a new random one when ``host`` faces a
    network and none was given; None on loopback without ``token``.

    Raises:
        ConfigError: ``token`` is empty or holds characters a header cannot carry.
    """
    if token is not None and not _usable(token):
        raise ConfigError("--token must be printable ASCII without spaces, e.g. a long random word")
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(TOKEN_BYTES)
    return token


def url_host(host: str) -> str:
    """``host`` as a URL and a ``Host`` header write it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def protect(app: ASGIApp, token: str | None, host: str | None = None) -> ASGIApp:
    """``app`` behind the rules: the token when there is one, else loopback ``Host`` names.

    Args:
        app: The app to guard.
        token: The token every request must carry, or None.
        host: The address the server listens on; when it is a loopback address other than
            the usual ones (``127.0.0.2``), requests naming it are accepted too, so that the
            URL the server prints works. An address is no name a web page can rebind.
    """
    if token:
        return TokenGuard(app, token)
    names = list(LOOPBACK_NAMES)
    if host and is_loopback(host) and url_host(host) not in names:
        names.append(url_host(host))
    return TrustedHostMiddleware(app, allowed_hosts=names, www_redirect=False)


def _usable(token: str) -> bool:
    return bool(token) and token.isascii() and token.isprintable() and " " not in token


class TokenGuard:
    """ASGI middleware: every request needs ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``.

    The comparison is constant-time (:func:`hmac.compare_digest`), so the time an answer takes
    does not tell how much of a guess was right.

    Args:
        app: The app to guard.
        token: The token.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.authorized(scope):
            response = JSONResponse(
                {
                    "error": "this server needs its token: open the URL it printed, or send "
                    "'Authorization: Bearer TOKEN'"
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        """Whether the request carries the token, in its header or its query."""
        offered: list[bytes] = []
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                offered.append(value[7:].strip())
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered += [value.encode() for value in query.get("token", [])]
        # Every offer is compared, so the time taken does not depend on which one matched.
        matches = [hmac.compare_digest(value, self.token) for value in offered]
        return any(matches)
