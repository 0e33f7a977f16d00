"""The lock files: every dependency pinned with hashes, and what is installed is what they say."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", re.MULTILINE)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_in_both_locks() -> None:
    runtime = {_name(r) for r in _project()["dependencies"]}
    assert runtime <= set(_pins("requirements.txt"))
    assert runtime <= set(_pins("requirements-dev.txt"))


def test_every_test_dependency_is_pinned_in_the_dev_lock() -> None:
    tools = {_name(r) for r in _project()["optional-dependencies"]["test"]}
    assert tools <= set(_pins("requirements-dev.txt"))


def test_both_locks_agree_on_the_runtime_versions() -> None:
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert {name: dev[name] for name in runtime} == runtime


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-dev.txt"])
def test_every_pin_carries_a_hash(lock: str) -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", (ROOT / lock).read_text())
    pinned = [block for block in blocks if PIN.match(block)]
    assert pinned
    assert [b.split()[0] for b in pinned if "--hash=sha256:" not in b] == []


def test_the_installed_packages_are_the_locked_ones() -> None:
    installed = {
        (dist.metadata["Name"] or "").lower().replace("_", "-"): dist.version
        for dist in metadata.distributions()
    }
    drift = {
        name: (version, installed.get(name))
        for name, version in _pins("requirements-dev.txt").items()
        if installed.get(name) != version
    }
    assert drift == {}
