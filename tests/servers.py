"""Real servers for tests: gunicorn on a socket bound here, stopped (or killed) at will."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import requests

from tests.conftest import WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = 60, what: str = "") -> T:
    """The first true value of `condition()`; fail after `timeout_s` (a bound, never a pause)."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)
    return value


def server_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment a tracker process needs to serve the test database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "server-test",
        "STRIPE_SECRET_KEY": "sk_test_123",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TRACKER_ENV": "test",
        "TRACKER_INSTANCE_PATH": str(instance),
        "SESSION_COOKIE_SECURE": "0",
        **extra,
    }


class Gunicorn:
    """gunicorn serving `app` with `workers` sync workers on 127.0.0.1:<free port>.

    The socket is bound here and handed over (fd://), so there is no race for a port,
    and a restarted server listens on the same address.
    """

    def __init__(self, env: dict[str, str], workers: int = 2, app: str = "wsgi:app") -> None:
        self.env = env
        self.workers = workers
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.set_inheritable(True)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(env["TRACKER_INSTANCE_PATH"]) / "gunicorn.log"

    def start(self) -> Gunicorn:
        command = [
            sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
            "--bind", f"fd://{self.sock.fileno()}", "--no-control-socket",
            "--graceful-timeout", "2", "--log-level", "warning", "--chdir", str(ROOT), self.app,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, env=self.env, pass_fds=[self.sock.fileno()], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log.read_text()[-3000:])
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not come up:\n" + self.log.read_text()[-3000:])

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]

    def kill_worker(self) -> int:
        """kill -9 one worker (the master starts a new one)."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def worker_holding(self, client: socket.socket) -> int | None:
        """The worker that has accepted `client`'s connection, or None while none has.

        Linux keeps each TCP connection in /proc/net/tcp under the inode of its socket; a
        connection still waiting in the listen queue has no socket yet (inode 0).
        """
        client_port = client.getsockname()[1]
        server_port = self.sock.getsockname()[1]
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            ports = (int(local.split(":")[1], 16), int(remote.split(":")[1], 16))
            if ports == (server_port, client_port) and inode != "0":
                inodes.add(f"socket:[{inode}]")
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):  # a worker may exit while we look
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) in inodes:
                            return pid
        return None

    def kill_all(self) -> None:
        """kill -9 the master and every worker: a crash of the whole server."""
        if self.proc is None:
            return
        pids = self.worker_pids()
        self.proc.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill_all()
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.sock.close()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, app: str = "wsgi:app") -> Iterator[Gunicorn]:
    server = Gunicorn(env, workers, app)
    try:
        yield server.start()
    finally:
        server.close()


@contextlib.contextmanager
def granian(env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """granian (the recommended server) serving wsgi:app; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = Path(env["TRACKER_INSTANCE_PATH"]) / "granian.log"
    command = [
        str(Path(sys.executable).parent / "granian"), "--interface", "wsgi",
        "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "wsgi:app",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("granian did not come up:\n" + log.read_text()[-3000:])
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
