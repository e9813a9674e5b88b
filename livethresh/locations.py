"""Where media is read from and written to: file paths, standard output and network URLs.

Both ends of the pipe name their media the same way, so the checks live here, apart from both:
the sources ask whether an input is a URL and whether its address can work, the encoder asks the
same of an output (and whether it goes to a file, which gets written atomically).
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The output name that means standard output.
STDOUT = "-"

#: URL schemes of streams that arrive in real time (``http`` may be a plain file).
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"})


def is_network_url(target: str) -> bool:
    """Whether ``target`` is a URL (``udp://...``) rather than a file path."""
    return "://" in target and len(urlsplit(target).scheme) > 1


def is_file_target(target: str) -> bool:
    """Whether an output goes to a file, rather than to stdout (``-``) or a network URL."""
    return target != STDOUT and not is_network_url(target)


def url_problem(url: str) -> str | None:
    """What is wrong with a stream URL's address, or None: a port out of range, no host.

    FFmpeg accepts ``udp://127.0.0.1:99999`` and sends to a port that cannot exist, so the
    run would report success; inputs and outputs are both checked here.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        return f"its port {port_text!r} is not a number from 1 to 65535"
    if port == 0:
        return "its port 0 is not a port a stream can use; give one from 1 to 65535"
    if parts.scheme.lower() in LIVE_SCHEMES | {"http", "https"} and not parts.hostname:
        if parts.scheme.lower() in ("udp", "rtp", "srt", "tcp") and port:
            return None  # udp://:1234 listens on every interface
        return "it names no host"
    return None
