"""Shared fixtures: the real config, and grading a notebook in a real kernel with a fixed seed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

import pytest

from grader.model import Config
from grader.config import load_config
from grader.grading.grade import GradeOptions, grade_notebook
from grader.results import SubmissionResult
from grader.sandbox import Level, Policy, detect
from grader.sandbox.denylist import protected_paths
from notebooks import write_small_config

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end tests (marked slow, a minute or more each) first: parallel workers then
    share them from the start instead of one of them finishing the suite alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "assignments.yml")


@pytest.fixture(scope="session")
def policy(config: Config) -> Policy:
    """The isolation the CLI would choose on this machine (the strongest it allows)."""
    return detect().with_hide(protected_paths(config))


def policy_at(config: Config, level: Level) -> Policy:
    """The isolation capped at ``level``: the fallbacks, to test that defences hold without bubblewrap."""
    found = detect(cap=level).with_hide(protected_paths(config))
    if found.level is not level:
        pytest.skip(f"this machine cannot isolate kernels at level {level.value!r}: {found.why}")
    return found


@pytest.fixture
def grade(config: Config, policy: Policy) -> Callable[..., SubmissionResult]:
    """grade(path, assignment="micrograd", seed=12345, policy=None, **limit_overrides) -> SubmissionResult."""

    def run(path: Path, assignment: str = "micrograd", seed: int = 12345, name: str | None = None,
            isolation: Policy | None = None, **limits: float) -> SubmissionResult:
        spec = config.get(assignment)
        if limits:
            spec = dataclasses.replace(spec, limits=dataclasses.replace(spec.limits, **limits))
        result = grade_notebook(path, spec, name=name,
                                options=GradeOptions(seed=seed, policy=isolation or policy),
                                config_digest=config.digest)
        assert result.internal_error is None, result.internal_error
        return result

    return run


def scores(result: SubmissionResult) -> dict[str, float]:
    """Question id -> score."""
    return {q.id: q.score for q in result.questions}


def question(result: SubmissionResult, qid: str):
    return next(q for q in result.questions if q.id == qid)


def grader_processes() -> list[int]:
    """Pids of processes still carrying a grader kernel token (strays after grading)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if b"GRADER_KERNEL_TOKEN=" in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def marked(marker: str) -> list[int]:
    """Pids of processes whose command line mentions ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


class Listener:
    """A server socket (TCP on loopback, or unix) that counts who connects and sends them ``payload``."""

    def __init__(self, family: int = socket.AF_INET, address: object = ("127.0.0.1", 0),
                 payload: bytes = b"") -> None:
        self.sock = socket.socket(family)
        self.sock.bind(address)
        self.sock.listen()
        self.port = self.sock.getsockname()[1] if family == socket.AF_INET else None
        self.payload, self.connections = payload, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.payload)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    """The real micrograd assignment with small time limits, so that a hang costs seconds."""
    return write_small_config(tmp_path / "config")


@pytest.fixture
def kernel_tmp() -> Path:
    """A TMPDIR for the grader under test: its kernels' command lines name it, and only theirs."""
    path = Path(tempfile.mkdtemp(prefix="grader-batch-test-", dir="/tmp"))
    path.chmod(0o755)  # kernels run as an unprivileged user and must reach their runtime folders
    yield path
    for pid in marked(str(path)):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def files_named(name: str, *folders: str) -> list[str]:
    """Files called ``name`` anywhere under ``folders`` (folders vanishing meanwhile are skipped)."""
    return [os.path.join(root, name) for folder in folders
            for root, dirs, files in os.walk(folder, onerror=lambda exc: None)
            if name in files or name in dirs]


INSTRUCTOR = "grader-test-instructor"


@pytest.fixture(scope="session")
def instructor() -> pwd.struct_passwd:
    """An ordinary user with a home, as on an instructor's machine (the suite runs as root);
    made once by whichever test process gets there first."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create an ordinary user")
    try:
        return pwd.getpwnam(INSTRUCTOR)
    except KeyError:  # another test process may be making it at this very moment
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", INSTRUCTOR], check=False,
                       capture_output=True)
        return pwd.getpwnam(INSTRUCTOR)
