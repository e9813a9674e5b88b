"""A throwaway Ray cluster on this machine's loopback, for the Ray engine's tests and benchmark.

Each node is a ``ray start --block`` child in its own session, so stopping it stops exactly the
processes this cluster started (``ray stop`` would stop every Ray node on the machine, other
people's too). Ray turns ``127.0.0.1`` into the host's LAN address as soon as a second node may
join, so the nodes use the loopback aliases 127.0.0.2, 127.0.0.3...: the traffic stays on the
loopback interface and each node has an address of its own. Ray 2.60 enables token
authentication; the cluster gets a random token, passed to drivers through the environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
#: Seconds a node may take to come up.
START_TIMEOUT = 60.0
#: Seconds a node gets to stop after SIGTERM before it is killed.
STOP_GRACE = 3.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def cluster_env(token: str) -> dict[str, str]:
    """The environment of the cluster's nodes and of its drivers."""
    env = dict(os.environ)
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    root = str(Path(__file__).resolve().parent.parent)  # this checkout's livethresh
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus: int = 1) -> Iterator[tuple[str, dict[str, str]]]:
    """Start ``nodes`` Ray nodes of ``cpus`` CPUs; yield the address and a driver environment.

    The cluster is stopped on the way out, whatever happened; any process left with the
    cluster's temporary folder on its command line is then killed by its pid.
    """
    temp = Path(tempfile.mkdtemp(prefix="ltray", dir="/tmp"))  # short: Ray's socket paths
    env = cluster_env(secrets.token_hex(32))
    port = free_port()
    address = f"127.0.0.2:{port}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(nodes):
            ip = f"127.0.0.{index + 2}"
            args = ["--node-ip-address", ip, "--num-cpus", str(cpus)]
            args += ["--dashboard-agent-listen-port", str(free_port())]
            if index == 0:
                args += ["--head", "--port", str(port), "--include-dashboard", "false"]
                # No Ray Client server port: it needs ray[client], which the plain ray (the
                # project's extra) does not bring.
                args += ["--temp-dir", str(temp)]
            else:
                args += ["--address", address]
            with open(temp.with_name(f"{temp.name}.node{index}.log"), "wb") as out:
                started.append(
                    subprocess.Popen(
                        [RAY, "start", "--block", "--disable-usage-stats", *args],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )
                )
            if index == 0:  # the other nodes need the head's GCS to join
                _wait_for_port("127.0.0.2", port, started[0])
        _wait_for_nodes(address, nodes, started, env)
        yield address, env
    finally:
        _stop(started)
        _kill_leftovers(str(temp))
        shutil.rmtree(temp, ignore_errors=True)
        for log in temp.parent.glob(f"{temp.name}.node*.log"):
            log.unlink(missing_ok=True)


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start --head exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the Ray head did not listen on {host}:{port} in {START_TIMEOUT} s")


def _wait_for_nodes(
    address: str, count: int, processes: list[subprocess.Popen[bytes]], env: dict[str, str]
) -> None:
    """Wait until ``count`` nodes are alive, asked by one driver that polls the cluster."""
    probe = (
        "import sys, time, ray\n"
        "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
        "deadline = time.monotonic() + float(sys.argv[3])\n"
        "while sum(n['Alive'] for n in ray.nodes()) < int(sys.argv[2]):\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(1)\n"
        "    time.sleep(0.2)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, address, str(count), str(START_TIMEOUT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT + 30,
    )
    if result.returncode != 0 or any(p.poll() is not None for p in processes):
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes: {result.stderr[-2000:]}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the nodes: SIGTERM to each one's session, SIGKILL to those still draining after
    :data:`STOP_GRACE` seconds (a test cluster has nothing to drain)."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _kill_leftovers(token: str) -> None:
    """Kill, by pid, the processes whose command line names this cluster's folder."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if token.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
