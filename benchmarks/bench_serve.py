"""The browser view under load: 16 viewers plus one connection that never reads, on a live 720p30
pattern, against the same server with nobody watching (the baseline), in one run.

Each round starts a fresh ``livethresh serve SOURCE --port 0`` process for each variant, in an
order that rotates round by round (``harness.py``) so that the noise of a shared machine hits both
alike, waits for it to warm up, then
counts for ``--seconds``:

- ``pipeline fps``: frames the pipeline wrote (``/api/stats`` before and after);
- ``viewer fps``: multipart parts each viewer received (its slowest and its median);
- ``encodes/frame``: JPEG encodes per pipeline frame (``/api/events``): 1 at most, whatever the
  number of viewers, 0 with none;
- ``RSS``: the server's peak resident memory (``VmHWM``), which a viewer that never reads must
  not grow.

The targets (issue 12): every viewer >= 20 fps and the pipeline >= 25 fps. Run::

    python benchmarks/bench_serve.py [--rounds 3] [--viewers 16] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import machine, median, rotating_rounds

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "testsrc2=size=1280x720:rate=30"
WARMUP_SECONDS = 3.0
MARKER = b"X-Frame-Index: "


def start_server(source: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-m", "livethresh", "serve", source, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    found = re.search(r"http://[\d.]+:(\d+)/", child.stdout.readline())
    if found is None:
        child.kill()
        raise SystemExit(f"serve did not start: {child.communicate()[1]}")
    return child, int(found[1])


def get_json(port: int, path: str) -> Any:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        data = b""
        if path == "/api/events":  # endless: the first event is enough
            while b"\n\n" not in data.partition(b"data: ")[2]:
                data += sock.recv(65536)
            return json.loads(data.partition(b"data: ")[2].partition(b"\n\n")[0])
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]


async def watch(port: int, counts: list[int], index: int) -> None:
    """One viewer reading ``/stream.mjpg`` as fast as it comes, counting frames."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    tail = b""
    try:
        while chunk := await reader.read(1 << 20):
            data = tail + chunk
            counts[index] += data.count(MARKER)
            tail = data[-len(MARKER) + 1 :]
    finally:
        writer.close()


async def measure(port: int, viewers: int, seconds: float) -> dict[str, Any]:
    stalled = socket.socket()  # requests the stream, then never reads a byte
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    counts = [0] * viewers
    tasks = [asyncio.create_task(watch(port, counts, i)) for i in range(viewers)]
    await asyncio.sleep(WARMUP_SECONDS)
    before, stats = list(counts), await asyncio.to_thread(get_json, port, "/api/stats")
    event = await asyncio.to_thread(get_json, port, "/api/events")
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after, stats_after = list(counts), await asyncio.to_thread(get_json, port, "/api/stats")
    event_after = await asyncio.to_thread(get_json, port, "/api/events")
    elapsed = time.monotonic() - started
    for task in tasks:
        task.cancel()
    stalled.close()
    frames = stats_after["frames"] - stats["frames"]
    encodes = sum(event_after["encoded"].values()) - sum(event["encoded"].values())
    rates = [(b - a) / elapsed for a, b in zip(before, after, strict=True)]
    return {
        "pipeline_fps": frames / elapsed,
        "viewer_fps_min": min(rates) if rates else None,
        "viewer_fps_median": statistics.median(rates) if rates else None,
        "encodes_per_frame": encodes / frames if frames else None,
        "dropped": stats_after["dropped"] - stats["dropped"],
        "latency_p50_ms": stats_after["latency_ms"]["p50"],
    }


def run(source: str, viewers: int, seconds: float) -> dict[str, Any]:
    child, port = start_server(source)
    try:
        result = asyncio.run(measure(port, viewers, seconds))
        result["rss_mib"] = peak_rss_mib(child.pid)
        return result
    finally:
        child.send_signal(2)
        child.communicate(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--viewers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", default=SOURCE)
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    variants = {"nobody watching": 0, f"{args.viewers} viewers + 1 stalled": args.viewers}
    load_before = os.getloadavg()
    results = rotating_rounds(
        {
            name: functools.partial(run, args.source, n, args.seconds)
            for name, n in variants.items()
        },
        args.rounds,
    )
    medians = {
        name: {key: median(runs, key) if runs[0][key] is not None else None for key in runs[0]}
        for name, runs in results.items()
    }
    base, loaded = medians.values()
    summary = {
        "machine": machine(),
        "source": args.source,
        "rounds": args.rounds,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "medians": medians,
        "pipeline_ratio": loaded["pipeline_fps"] / base["pipeline_fps"],
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(summary["machine"])
    print(f"{args.source}, {args.rounds} rounds of {args.seconds:g} s, medians")
    for name, m in medians.items():
        viewers = (
            f", viewers min {m['viewer_fps_min']:.1f} / median {m['viewer_fps_median']:.1f} fps"
            if m["viewer_fps_min"] is not None
            else ""
        )
        encodes = m["encodes_per_frame"]
        print(
            f"  {name:24} pipeline {m['pipeline_fps']:.1f} fps{viewers}, "
            f"{encodes if encodes is not None else 0:.2f} encodes/frame, "
            f"{m['dropped']:.0f} dropped, p50 {m['latency_p50_ms']:.1f} ms, "
            f"peak RSS {m['rss_mib']:.0f} MiB"
        )
    print(f"  pipeline with viewers / without: {summary['pipeline_ratio']:.2f}")
    print(f"  load average before {summary['load_before']}, after {summary['load_after']}")


if __name__ == "__main__":
    main()
