"""Regression tests for the holes an attack review found around the kernel (issue 11).

Each runs real notebooks in real kernels, with the bubblewrap sandbox and, as root, without it
(the fallbacks: private namespaces, or a uid of its own only), because defence in depth is the
point: the sandbox can be unavailable.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import Listener, files_named, marked, policy_at, scores
from grader.sandbox import Level
from notebooks import ROOT, variant, write_small_config

pytestmark = pytest.mark.slow
FULL = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0, "q4_softmax_nll": 3.0}
LEVELS = [Level.SANDBOX, Level.NAMESPACES, Level.USER]
GRADER = [sys.executable, "-m", "grader"]


@pytest.fixture
def root_only_dir() -> Path:
    """A folder only root can enter: anything appearing in it was written by root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    path = Path(f"/root/grader-canary-{uuid.uuid4().hex}")
    path.mkdir(mode=0o700)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


SABOTAGE = """
import glob, os
from ipykernel.kernelapp import IPKernelApp
CANARY, SOCKET = {canary!r}, {socket!r}
mine = os.path.dirname(IPKernelApp.instance().ip)     # this kernel's socket folder
places = {{mine, os.getcwd(), os.path.dirname(mine)}} | set(glob.glob('/tmp/grader-*'))
for place in places:
    try:
        names = os.listdir(place)
    except OSError:
        names = []
    for name in names + ['kernel.log', 'kernel-2.log', 'connection.json', 'connection-2.json']:
        target = os.path.join(place, name)
        try:
            if os.path.isdir(target) and not os.path.islink(target):
                continue
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(CANARY, target)
        except OSError:
            pass
    for port in range(1, 40):  # the next start's sockets, should it look here again
        try:
            os.symlink(SOCKET, os.path.join(place, 'k-%d' % port))
        except OSError:
            pass
os._exit(1)
"""


@pytest.mark.parametrize("level", LEVELS, ids=[level.value for level in LEVELS])
def test_root_never_follows_links_the_kernel_planted(level, config, grade, root_only_dir, tmp_path):
    """The kernel swaps every file it can reach for links to root-only places and kills itself:
    the restart still works, root writes nothing there, and connects to no planted socket."""
    canary, sock = root_only_dir / "written-by-root", root_only_dir / "socket"
    listener = Listener(socket.AF_UNIX, str(sock))
    path = variant(tmp_path / "sabotage.ipynb",
                   append=[SABOTAGE.format(canary=str(canary), socket=str(sock))])
    result = grade(path, isolation=policy_at(config, level), cell_timeout=10, submission_timeout=90)
    assert scores(result) == FULL, [q.message for q in result.questions]
    assert any("killed the kernel" in n for n in result.notes), result.notes
    assert not canary.exists()
    assert listener.connections == 0
    assert result.isolation.startswith(level.value)


FORK_BOMB = """
import os, time
while True:   # children leave the session and the environment behind: only uid or PID namespace finds them
    try:
        if os.fork() == 0:
            os.setsid()
            os.execve('/bin/sleep', ['sleep', '{mark}'], {{}})
    except OSError:
        break
time.sleep(600)
"""


def _small_config(tmp_path: Path, **limits: object) -> Path:
    return write_small_config(tmp_path / "config", **{"cell_timeout": 4, "probe_timeout": 4,
                                                      "submission_timeout": 90, **limits})


def _grades(out: Path) -> dict[str, dict[str, str]]:
    import csv
    with open(out / "grades.csv", newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


@pytest.mark.parametrize("level", [Level.SANDBOX, Level.USER], ids=["sandbox", "user"])
def test_fork_bomb_costs_only_its_own_submission(level, config, tmp_path):
    """One notebook forks up to its process limit, its children escaping session and environment:
    they die with it, and the other kernels (same batch, and the next ones) still start and score."""
    policy_at(config, level)  # skips where this level cannot be had
    subs, out = tmp_path / "subs", tmp_path / "out"
    mark = f"{uuid.uuid4().int % 10**9 + 10**9}.25"  # seconds to sleep, and a mark to find them by
    variant(subs / "a_100_900_micrograd_exercises.ipynb", append=[FORK_BOMB.format(mark=mark)])
    for sid in ("101", "102", "103"):
        variant(subs / f"ok_{sid}_901_micrograd_exercises.ipynb")
    run = subprocess.run([*GRADER, "run", str(subs), "--out", str(out), "--jobs", "2",
                          "--config", str(_small_config(tmp_path, max_processes=48))],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "GRADER_ISOLATION": level.value})
    assert run.returncode == 0, run.stderr
    rows = _grades(out)
    assert {sid: rows[sid]["total"] for sid in rows} == {"100": "10", "101": "10", "102": "10", "103": "10"}
    assert all(row["status"] == "graded" for row in rows.values())
    assert marked(mark) == [], "processes the fork bomb started outlived grading"


def test_scratch_space_is_bounded_and_gone(config, grade, tmp_path):
    """In the sandbox the working folder, /tmp and /dev/shm are tmpfs of disk_mb each, the socket
    folder one of 1 MiB, all gone afterwards."""
    policy = policy_at(config, Level.SANDBOX)
    from grader.sandbox.allowlist import features
    if "--size" not in features(policy.bwrap or "bwrap"):
        pytest.skip("this bubblewrap cannot cap a tmpfs (--size needs bubblewrap 0.10)")
    mark = f"grader-fill-{uuid.uuid4().hex}"
    fill = (f"import os\nwrote = {{}}\nfor d in ['.', '/tmp', '/dev/shm', '/run/kernel']:\n    n = 0\n"
            f"    try:\n        with open(os.path.join(d, {mark!r}), 'wb') as fh:\n"
            "            for _ in range(64):\n                fh.write(b'x' * (1 << 20)); fh.flush(); n += 1\n"
            "    except OSError:\n        pass\n    wrote[d] = n\n"
            "def gradf(a, b, c):\n    raise ValueError('wrote %r' % sorted(wrote.values()))")
    result = grade(variant(tmp_path / "fill.ipynb", append=[fill]), isolation=policy, disk_mb=16,
                   file_size_mb=64)
    message = next(q for q in result.questions if q.id == "q1_gradf").message
    wrote = re.search(r"wrote \[(\d+), (\d+), (\d+), (\d+)\]", message)  # MiB, sorted, of 64 tried
    assert wrote and int(wrote.group(1)) <= 1, message  # the socket folder: 1 MiB
    assert all(int(n) in (15, 16) for n in wrote.groups()[1:]), message
    assert files_named(mark, "/tmp", "/dev/shm") == []


def test_results_are_written_before_anything_is_printed(tmp_path):
    """Whoever reads the output has gone (a closed pipe): the table is lost, --results is not."""
    results = tmp_path / "r.json"
    nb = variant(tmp_path / "micrograd_exercises.ipynb")
    proc = subprocess.Popen([*GRADER, "run", str(nb), "--results", str(results), "--config",
                             str(ROOT / "assignments.yml")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    proc.stdout.close()  # the reader is gone before anything is printed
    assert proc.wait(timeout=300) == 0
    assert json.loads(results.read_text())["score"] == 10


FLOOD = """
from IPython import get_ipython
kernel = get_ipython().kernel
blob = 'x' * (150 << 20)
for _ in range(4):   # straight onto the socket, past the in-kernel output cap
    kernel.session.send(kernel.iopub_socket, 'display_data',
                        {'data': {'text/plain': blob}, 'metadata': {}}, parent=kernel.get_parent())
del blob
"""


def test_huge_kernel_messages_never_reach_the_grader(tmp_path):
    """600 MiB of display messages: ZeroMQ drops them at the socket; the grader stays small."""
    nb = variant(tmp_path / "micrograd_exercises.ipynb", append=[FLOOD])
    results = tmp_path / "r.json"
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen([*GRADER, "run", str(nb), "--results", str(results), "--config",
                                 str(ROOT / "assignments.yml")], stdout=subprocess.DEVNULL, stderr=err)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) // 1024)
        except OSError:
            pass
        time.sleep(0.05)
    assert proc.returncode == 0, log.read_text()
    assert json.loads(results.read_text())["score"] == 10
    assert 0 < peak < 500, f"the grader peaked at {peak} MB"


def test_kernel_that_will_not_start_costs_one_submission(config, tmp_path, monkeypatch):
    """Every start of one submission's kernel fails: it alone is 'not graded' with the reason."""
    from grader.execution import kernel as kernel_module
    from grader.grading.batch import run_batch
    from grader.grading.jobs import folder_jobs
    from grader.errors import KernelStartError
    from grader.grading.grade import GradeOptions

    subs = tmp_path / "subs"
    for sid in ("101", "102", "103"):
        variant(subs / f"s_{sid}_9_micrograd_exercises.ipynb")
    real_start = kernel_module.Kernel._start
    starts = {"n": 0}

    async def flaky(self):
        starts["n"] += 1
        if 2 <= starts["n"] <= 4:  # the second kernel and both of its retries
            raise KernelStartError("a test made this start fail")
        await real_start(self)

    monkeypatch.setattr(kernel_module.Kernel, "_start", flaky)
    jobs, _ = folder_jobs(config, [subs], "micrograd")
    report = run_batch(jobs, options=GradeOptions(seed=1), out=tmp_path / "out", workers=1,
                       config_digest=config.digest)
    rows = _grades(tmp_path / "out")
    assert len(rows) == 3 and [r["status"] for r in rows.values()].count("grader_error") == 1
    failed = next(o.result for o in report.outcomes if o.result.internal_error)
    assert "a test made this start fail" in failed.internal_error
    assert "not your fault" in failed.questions[0].message
    assert sorted(r["total"] for r in rows.values()) == ["0", "10", "10"]


def test_kernel_that_cannot_be_restarted_is_the_notebooks_doing(grade, tmp_path, monkeypatch):
    """The notebook kills its kernel and no new one will start: a result with the reason, no crash."""
    from grader.execution import kernel as kernel_module
    from grader.errors import KernelStartError

    real_start = kernel_module.Kernel._start
    starts = {"n": 0}

    async def only_once(self):
        starts["n"] += 1
        if starts["n"] > 1:
            raise KernelStartError("no second kernel in this test")
        await real_start(self)

    monkeypatch.setattr(kernel_module.Kernel, "_start", only_once)
    result = grade(variant(tmp_path / "crash.ipynb", append=["import os\nos._exit(1)"]))
    assert result.internal_error is None and result.error is None
    assert any("could not be restarted" in note for note in result.notes), result.notes
    assert result.score == 0 and "could not be restarted" in result.questions[0].message


@pytest.mark.parametrize("level", [Level.SANDBOX, Level.USER], ids=["sandbox", "user"])
def test_kernels_die_with_the_grader(level, config, tmp_path):
    """kill -9 of the grader mid-batch: in the sandbox nothing its kernels started remains seconds
    later; below it (as root), the next grader run kills what is left under the pool's uids."""
    policy_at(config, level)
    mark = f"{uuid.uuid4().int % 10**9 + 10**9}.75"
    for sid in ("101", "102", "103"):
        variant(tmp_path / "subs" / f"s_{sid}_9_micrograd_exercises.ipynb",
                prepend=[f"import subprocess, time\nsubprocess.Popen(['/bin/sleep', '{mark}'])\n"
                         "time.sleep(30)"])
    proc = subprocess.Popen([*GRADER, "run", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                             "--jobs", "2", "--config", str(_small_config(tmp_path, cell_timeout=60))],
                            env={**os.environ, "GRADER_ISOLATION": level.value},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(marked(mark)) < 2:  # both kernels are running their first cell
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.kill()
        proc.wait()
        if level is not Level.SANDBOX:
            other = variant(tmp_path / "other" / "micrograd_exercises.ipynb")  # any later run
            rerun = subprocess.run([*GRADER, "run", str(other), "--config", str(ROOT / "assignments.yml")],
                                   env={**os.environ, "GRADER_ISOLATION": level.value},
                                   capture_output=True, text=True, timeout=300)
            assert rerun.returncode == 0, rerun.stderr
        deadline = time.monotonic() + 5
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marked(mark) == [], "what the kernels started outlived the grader"
    finally:
        proc.kill()
        for pid in marked(mark):
            os.kill(pid, 9)
