"""README's commands work as written, in a fresh copy of the repository.

The copy holds the repository's files and nothing else (no .env, no database, no
catalogs built); its `.venv` links to this one, since CI proves the install from the
lock file by running `make test` at all. `make run` there must write `.env`, migrate,
seed, print the URLs and serve them; then every command of "Command line" runs there,
reading `.env` as a user's shell would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers import wait_until

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# One concrete use of each command in README's "Command line" table, as a user types it
# (after `. .venv/bin/activate`), in the order a user would.
EXAMPLES = {
    "db upgrade": "flask --app wsgi db upgrade",
    "create-campaign": "flask --app wsgi tracker create-campaign readme --name 'Read me'"
    " --currency EUR --timezone Europe/Berlin --milestones 0,1000,2000",
    "edit-campaign": "flask --app wsgi tracker edit-campaign readme --name 'Read me too'"
    " --locale de --allowed-origins https://news.example --show-supporters yes",
    "add-donation": "flask --app wsgi tracker add-donation readme 12.50 --donor Ada",
    "verify": "flask --app wsgi tracker verify",
    "rollover": "flask --app wsgi tracker rollover",
    "reprocess": "flask --app wsgi tracker reprocess",
    "create-admin": "echo 'a long passphrase' | flask --app wsgi tracker create-admin"
    " you@example.org --password-stdin",
    "backup": "flask --app wsgi tracker backup instance/copy.db",
    "send-notifications": "flask --app wsgi tracker send-notifications",
}
# Commands that need a Stripe key: here they must fail in one line, since the copy has none.
NEED_STRIPE = {
    "sync-stripe": "flask --app wsgi tracker sync-stripe",
    "reconcile": "flask --app wsgi tracker reconcile --month 2026-11",
}
LONG_RUNNING = {"scheduler": "flask --app wsgi tracker scheduler --interval 300"}


def _table_commands() -> set[str]:
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^\| `flask --app wsgi (?:tracker )?([a-z-]+(?: upgrade)?)", section, re.M)
    return set(found)


def test_every_command_of_the_table_has_an_example_here() -> None:
    assert _table_commands() == set(EXAMPLES) | set(LONG_RUNNING) | set(NEED_STRIPE)


def _env() -> dict[str, str]:
    """A user's shell: no test settings, the copy's .venv first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRACKER_", "STRIPE_", "FLASK_", "PYTEST", "SECRET", "DATABASE"))
        and k not in {"SESSION_COOKIE_SECURE", "RATELIMIT_STORAGE_URI", "VIRTUAL_ENV"}
    }
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Iterator[Path]:
    """The repository's files as a clone has them (tracked and not ignored), and .venv."""
    copy = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    yield copy


def _shell(copy: Path, line: str, **kw) -> subprocess.CompletedProcess[str]:
    env = _env()
    env["PATH"] = f"{copy / '.venv' / 'bin'}:{env['PATH']}"
    return subprocess.run(
        ["bash", "-c", line], cwd=copy, env=env, capture_output=True, text=True, timeout=120, **kw
    )


def test_make_run_then_every_command(checkout: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=checkout,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            try:
                return requests.get(f"{base}/embed/demo", timeout=2).status_code == 200
            except requests.ConnectionError:
                assert server.poll() is None, "make run stopped"
                return False

        wait_until(serving, timeout_s=120, what="make run to serve the demo widget")
        for path in ("/api/v1/campaigns/demo/progress", "/donate/demo", "/admin/login"):
            assert requests.get(base + path, timeout=5).status_code == 200, path
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
        printed.append(out)
    output = printed[0]
    for url in ("/api/v1/campaigns/demo/progress", "/embed/demo", "/donate/demo", "/admin/"):
        assert f"http://127.0.0.1:{port}{url}" in output
    dotenv = checkout / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    settings = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line)
    assert settings["TRACKER_ENV"] == "development"
    assert len(settings["SECRET_KEY"]) == 64
    assert (checkout / "instance" / "tracker.db").exists()

    for name, line in EXAMPLES.items():
        done = _shell(checkout, line)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert "Traceback" not in done.stderr, name
    assert (checkout / "instance" / "copy.db").stat().st_size > 0
    for name, line in NEED_STRIPE.items():
        done = _shell(checkout, line)
        assert done.returncode == 1, name
        assert done.stderr.strip() == "Error: Stripe: STRIPE_SECRET_KEY is not set", name
    listed = _shell(checkout, "flask --app wsgi tracker verify")
    assert listed.returncode == 0

    # The scheduler runs in the foreground until SIGTERM, then exits 0.
    env = _env()
    env["PATH"] = f"{checkout / '.venv' / 'bin'}:{env['PATH']}"
    scheduler = subprocess.Popen(
        ["bash", "-c", f"exec {LONG_RUNNING['scheduler']}"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []

    def started() -> bool:
        assert scheduler.poll() is None, scheduler.stderr.read() if scheduler.stderr else ""
        line = scheduler.stderr.readline() if scheduler.stderr else ""
        log.append(line)
        return "rollover" in line.lower() or "scheduler" in line.lower()

    wait_until(started, timeout_s=60, what="the scheduler to start")
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(timeout=30) == 0
