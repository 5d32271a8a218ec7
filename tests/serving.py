"""Real servers on loopback for the tests: a free port, and ``matcher serve`` in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def matcher_command() -> list[str]:
    """The installed ``matcher`` script beside this Python, or the CLI through ``-c``."""
    script = Path(sys.executable).parent / "matcher"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from matcher.cli import app; app()"]


@dataclass
class Served:
    base: str
    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def matcher_serve(home: Path, cwd: Path, *options: str, **environment: str) -> Iterator[Served]:
    """``matcher serve`` over ``home`` until the block ends (then SIGINT, as a person would)."""
    env = {**os.environ, "MATCHER_HOME": str(home), **environment}
    port = free_port()
    process = subprocess.Popen(
        [*matcher_command(), "serve", "--port", str(port), *options],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{served.base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "matcher serve did not answer"
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        served.output, _ = process.communicate(timeout=60)
