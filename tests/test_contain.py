"""One notebook's appetite costs only that notebook: CPU, memory (children and tmpfs included),
files and logs, in real kernels, graded by the command as root and as an ordinary user.

As root this machine gives each kernel a cgroup (v1 here, v2 elsewhere); an ordinary user here has
none, so the same tests exercise the measured fallback. Nothing here asserts a duration: the CPU
test asserts scores, the memory tests the host's available memory, the log test bytes on disk.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import sys
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from notebooks import variant, write, write_small_config
from test_sandbox import GRADER, _identity, _require_sandbox

pytestmark = pytest.mark.slow
IDENTITIES = ["root", "ordinary-user"]

CPU_HOG = """import subprocess, sys, time
hogs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True)
        for _ in range(36)]
time.sleep(20)
"""
MEMORY_HOG = """import os, subprocess, sys
for folder in ('/tmp', '/dev/shm', os.path.expanduser('~'), os.getcwd()):
    try:
        with open(os.path.join(folder, 'fill'), 'wb') as fh:
            for _ in range(300):
                fh.write(b'x' * (1 << 20))
    except OSError:
        pass
kids = [subprocess.Popen([sys.executable, '-c', "import time\\nx = b'a' * (400 << 20)\\ntime.sleep(30)"],
                         start_new_session=True) for _ in range(10)]
print([kid.wait() for kid in kids])
"""
INODE_FLOOD = """import os
os.makedirs('/tmp/f', exist_ok=True)
for i in range(3_000_000):
    open('/tmp/f/%d' % i, 'w').close()
"""
LOG_FLOOD = """import os
os.write(2, b'E' * (24 << 20))
os._exit(1)
"""


def _workspace(which: str, request) -> tuple[object, Path]:
    owner, home, base = _identity(which, request)
    folder = Path(base) / f"grader-contain-test-{uuid.uuid4().hex}"
    folder.mkdir()
    folder.chmod(0o711)  # as root, kernels run under uids of their own and must pass through
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    return owner, folder


def _grade(owner, folder: Path, subs: Path, jobs: int, env: dict[str, str] | None = None,
           options: tuple[str, ...] = (), grader: list[str] = GRADER,
           **limits: object) -> dict[str, dict]:
    """``grader run SUBS --out OUT`` as ``owner``; every student's stored result."""
    config = write_small_config(folder / "config", **limits)
    if owner is not None:
        for root, dirs, files in os.walk(folder):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, owner.pw_uid, owner.pw_gid)
    argv = [*grader, "run", str(subs), "--out", str(folder / "out"), "--jobs", str(jobs),
            "--config", str(config), "--seed", "3", *options]
    env = {**os.environ, **(env or {})}
    env.pop("GRADER_CONFIG", None)
    who = {}
    if owner is not None:
        env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
        who = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    run = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=900,
                         **who)
    assert run.returncode == 0, run.stderr
    with open(folder / "out" / "grades.csv", newline="") as fh:
        rows = {row["id"]: row for row in csv.DictReader(fh)}
    return {sid: {**json.loads((folder / "out" / "submissions" / sid / "result.json").read_text())
                  ["result"], "total": rows[sid]["total"]} for sid in rows}


def _available_mb() -> int:
    with open("/proc/meminfo") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith("MemAvailable:"))


class _LowestAvailable:
    """The machine's lowest available memory while the block runs, sampled every 50 ms."""

    def __enter__(self) -> _LowestAvailable:
        self.before = sorted(_available_mb() for _ in range(5))[2]
        self.lowest = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.lowest = min(self.lowest, _available_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def drop(self) -> int:
        return self.before - self.lowest


@pytest.mark.parametrize("which", IDENTITIES)
def test_cpu_hog_costs_a_classmate_nothing(which, request):
    """36 busy processes, each in its own session, beside a correct notebook in a --jobs 2 batch:
    the correct notebook keeps every point (its time limits count its own time, and with a
    cgroup it keeps a fair share of the CPU)."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    variant(subs / "hog_111_901_micrograd_exercises.ipynb", prepend=[CPU_HOG])
    variant(subs / "fair_222_902_micrograd_exercises.ipynb")
    results = _grade(owner, folder, subs, jobs=2, cell_timeout=30, probe_timeout=30,
                     submission_timeout=300)
    fair = results["222"]
    assert fair["total"] == "10", [q["message"] for q in fair["questions"]]
    assert not [c for c in fair["cells"] if c["status"] in ("timeout", "killed", "skipped")], fair["cells"]
    assert results["111"]["total"] == "10"  # the hog's own answers are right too: it loses nothing


# The grader, with its loop held for 5 s (as judging a classmate or ending a kernel held it on a
# loaded machine) while the cell whose source says "time.sleep(1)" runs: that cell's own time is 1 s.
STALLED_GRADER = """import asyncio, sys, time
from grader.cli import main
from grader.execution.kernel import Kernel

run_one = Kernel._run_one

async def stalled(self, index):
    if "time.sleep(1)" in self.nb.cells[index].source and not getattr(self, "stalled", False):
        self.stalled = True
        asyncio.get_running_loop().call_later(0.3, time.sleep, 5)
    return await run_one(self, index)

Kernel._run_one = stalled
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("which", IDENTITIES)
def test_the_graders_own_work_costs_a_cell_nothing(which, request):
    """A first cell that sleeps 1 s and then imports, under a 3 s limit, while the grader's loop
    is busy for 5 s with other work: the cell is not charged the grader's time, completes, and
    every check finds its imports (charged the loop's time, it timed out before ``import math``
    and a correct notebook scored 0.83 of 10)."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    variant(subs / "slow_111_901_micrograd_exercises.ipynb",
            edit={"imports": ("import math", "import time\ntime.sleep(1)\nimport math")})
    driver = folder / "stalled_grader.py"
    driver.write_text(STALLED_GRADER)
    results = _grade(owner, folder, subs, jobs=1, grader=[sys.executable, str(driver)])
    slow = results["111"]
    assert slow["cells"][0] == {"number": 2, "status": "ok", "detail": ""}, slow["cells"]
    assert slow["total"] == "10", (slow["notes"], [q["message"] for q in slow["questions"]])


@pytest.mark.parametrize("which", IDENTITIES)
def test_memory_hog_and_file_flood_stay_within_the_budget(which, request):
    """Ten children of 400 MB and four full tmpfs folders (about 5 GB unbounded), then 3 million
    empty files: the machine's available memory drops by about the budget at most, and each
    result names the limit it met."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    write(subs / "hog_111_901_micrograd_exercises.ipynb", [MEMORY_HOG])
    write(subs / "flood_333_903_micrograd_exercises.ipynb", [INODE_FLOOD])
    budget = 512
    with _LowestAvailable() as memory:
        results = _grade(owner, folder, subs, jobs=1, memory_mb=budget, cell_timeout=120,
                         submission_timeout=300)
    # the grader itself (a few hundred MiB) and the rest of a shared machine are in the margin
    assert memory.drop < budget + 1024, f"available memory fell by {memory.drop} MiB"
    hog, flood = results["111"], results["333"]
    assert any("memory limit (512 MiB" in note for note in hog["notes"]), hog["notes"]
    assert any("limit" in note and "reached" in note for note in flood["notes"]), flood["notes"]
    assert flood["cells"][0]["status"] == "killed", flood["cells"]


@pytest.mark.parametrize("which", IDENTITIES)
def test_log_flood_is_bounded_on_disk(which, request):
    """A notebook that writes 24 MiB to its stderr and kills its kernel, six times: the kernel
    logs on the host never hold more than the submission's log budget."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    tmp = Path(f"/tmp/gc-{uuid.uuid4().hex[:8]}")  # short: socket paths have a length limit
    tmp.mkdir()
    tmp.chmod(0o711)
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    if owner is not None:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
    subs = folder / "subs"
    write(subs / "loud_111_901_micrograd_exercises.ipynb", ["x = 1", *[LOG_FLOOD] * 6])
    most = {"bytes": 0}
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            total = 0
            for root, _, files in os.walk(tmp):
                for name in files:
                    if name.startswith("kernel-") and name.endswith(".log"):
                        try:
                            total += os.stat(os.path.join(root, name)).st_size
                        except OSError:
                            pass
            most["bytes"] = max(most["bytes"], total)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = _grade(owner, folder, subs, jobs=1, env={"TMPDIR": str(tmp)})
    finally:
        stop.set()
        watcher.join()
    cells = results["111"]["cells"]
    assert [c["status"] for c in cells].count("killed") == 6, cells
    assert 0 < most["bytes"] <= 300 * 1024, most  # 6 x 24 MiB unbounded


LATE_HOG = """import subprocess, sys, threading, time
def grow():  # printing all along: the kernel's output channel is never silent for long
    kids, start = [], time.monotonic()
    while True:
        print('.', end='', flush=True)
        time.sleep(0.02)
        # once the cell has long finished (the grader is between cells or probing), a child
        # holding 150 MiB every 0.1 s: past the 512 MiB budget within a few of them
        if time.monotonic() - start > 0.2 + 0.1 * len(kids) and len(kids) < 12:
            kids.append(subprocess.Popen([sys.executable, '-c',
                                          "import time\\nx = b'a' * (150 << 20)\\ntime.sleep(120)"]))
threading.stack_size(1 << 18)  # the kernel is near its own address-space limit
threading.Thread(target=grow, daemon=True).start()
_computed = gradf
def gradf(*args):  # a second an answer: the grader is certainly still probing while the thread grows
    time.sleep(1)
    return _computed(*args)
"""


@pytest.mark.parametrize("which", ["ordinary-user"])
def test_memory_grown_after_its_cell_is_measured(which, request):
    """Without a cgroup (an ordinary user here), a thread that a cell left behind grows the
    sandbox past its budget after the cell finished -- while the grader probes, with the kernel's
    output never silent: the sandbox is ended all the same and the result names the limit."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    variant(subs / "late_111_901_micrograd_exercises.ipynb", append=[LATE_HOG])
    with _LowestAvailable() as memory:
        results = _grade(owner, folder, subs, jobs=1, memory_mb=512, submission_timeout=300)
    late = results["111"]
    assert memory.drop < 512 + 1024, f"available memory fell by {memory.drop} MiB"
    assert any("memory limit (512 MiB" in note for note in late["notes"]), late["notes"]


DEV_WRITES = """import os
with open('/dev/null', 'w') as fh:
    fh.write('x')
with open('/dev/urandom', 'rb') as fh:
    assert len(fh.read(8)) == 8
open('/dev/shm/MARK', 'w').write('x' * 1000)
"""


def test_user_level_cannot_write_shared_memory(request):
    """At the ``user`` level (Landlock, no sandbox of its own), a kernel writes /dev/null and reads
    /dev/urandom, but cannot put a file in the machine's shared, unmeasured /dev/shm; the rest of
    the notebook keeps every point."""
    from grader.sandbox.allowlist import landlock_abi
    if landlock_abi() < 1:
        pytest.skip("no Landlock in this kernel: at the user level files are down to permissions")
    owner, folder = _workspace("root", request)
    mark = f"grader-shm-{uuid.uuid4().hex}"
    request.addfinalizer(lambda: Path("/dev/shm", mark).unlink(missing_ok=True))
    subs = folder / "subs"
    variant(subs / "shm_111_901_micrograd_exercises.ipynb", prepend=[DEV_WRITES.replace("MARK", mark)])
    results = _grade(owner, folder, subs, jobs=1, env={"GRADER_ISOLATION": "user"})
    shm = results["111"]
    assert shm["isolation"].startswith("user:"), shm["isolation"]
    assert shm["cells"][0]["status"] == "error", shm["cells"]
    assert shm["cells"][0]["detail"].startswith("PermissionError"), shm["cells"][0]
    assert not Path("/dev/shm", mark).exists()
    assert shm["total"] == "10", [q["message"] for q in shm["questions"]]


ORPHANS = """import os, sys, time
for _ in range(8):  # each child starts a grandchild and exits: the grandchild leaves the kernel's tree
    if os.fork() == 0:
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, '-c',
                                      "import time\\nx = b'a' * (150 << 20)\\ntime.sleep(60)"])
        os._exit(0)
    os.wait()
time.sleep(30)
"""


def test_orphans_outside_a_sandbox_are_measured(request):
    """An ordinary user without a sandbox or a cgroup (level ``none``): grandchildren re-parented
    away from the kernel still count toward its budget, and the result names the limit."""
    owner, folder = _workspace("ordinary-user", request)
    subs = folder / "subs"
    write(subs / "orphans_111_901_micrograd_exercises.ipynb", [ORPHANS])
    results = _grade(owner, folder, subs, jobs=1, memory_mb=512, cell_timeout=60,
                     submission_timeout=300, env={"GRADER_ISOLATION": "none"},
                     options=("--no-sandbox",))
    orphans = results["111"]
    assert orphans["isolation"].startswith("none:"), orphans["isolation"]
    assert any("memory limit (512 MiB" in note for note in orphans["notes"]), orphans["notes"]
    assert orphans["cells"][0]["status"] == "killed", orphans["cells"]


THREADS = """import threading
def churn():
    for _ in range(20_000):
        bytearray(4096)
threads = [threading.Thread(target=churn) for _ in range(24)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


@pytest.mark.parametrize("which,level", [("ordinary-user", "none"), ("root", "user"),
                                         ("ordinary-user", "sandbox")])
def test_threads_do_not_spend_the_memory_budget(which, level, request):
    """Two dozen threads that allocate a few KiB each, under a small memory budget: the C
    library's per-thread reservations of address space do not count as the student's memory, so
    every thread starts (before, the kernel itself could fail to start a thread under load)."""
    owner, folder = _workspace(which, request)
    if level == "sandbox":
        _require_sandbox(owner)
    subs = folder / "subs"
    variant(subs / "threads_111_901_micrograd_exercises.ipynb", prepend=[THREADS])
    results = _grade(owner, folder, subs, jobs=1, memory_mb=512, cell_timeout=60,
                     submission_timeout=300, env={"GRADER_ISOLATION": level},
                     options=("--no-sandbox",) if level == "none" else ())
    threads = results["111"]
    assert threads["isolation"].startswith(f"{level}:"), threads["isolation"]
    assert threads["cells"][0] == {"number": 1, "status": "ok", "detail": ""}, threads["cells"][0]
    assert threads["total"] == "10", [q["message"] for q in threads["questions"]]


def _namespace() -> tuple[subprocess.Popen, int]:
    """A process in a new PID namespace (``unshare``), and the pid of the one inside it."""
    from grader.sandbox.reap import children_of

    outer = subprocess.Popen(["unshare", "--user", "--map-root-user", "--pid", "--fork", "sleep", "60"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        inside = children_of(outer.pid)
        if inside:
            return outer, inside[0]
        if outer.poll() is not None:
            break
        time.sleep(0.005)
    outer.kill()
    outer.wait()
    pytest.skip("no PID namespace can be made here with unshare")


def _end(outer: subprocess.Popen, inside: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(inside, signal.SIGKILL)
    outer.wait()


def _tries_until_reused(name: str, limit: float) -> int | None:
    """New namespaces, one after another, until one gets ``name``: how many it took."""
    from grader.sandbox.reap import pidns_of

    tries, deadline = 0, time.monotonic() + limit
    while time.monotonic() < deadline:
        outer, inside = _namespace()
        tries += 1
        reused = pidns_of(inside) == name
        _end(outer, inside)
        if reused:
            return tries
    return None


def test_a_dead_kernels_namespace_number_never_reaches_a_neighbour():
    """A kernel's PID namespace is killed by its number when the kernel ends; once the namespace
    is gone the system gives that number to the next one made -- a neighbour's kernel, killed
    mid-cell (seen in a batch: a classmate whose kernel exited cost another notebook 9 points).
    The grader holds the namespace while it may kill by its number: no new one gets it, and the
    kill spares every other namespace."""
    from grader.sandbox.reap import hold_pidns, pidns_of

    outer, inside = _namespace()
    name = pidns_of(inside)
    _end(outer, inside)
    needed = _tries_until_reused(name, 10)  # not held: the number comes back
    if needed is None:
        pytest.skip("this system did not give a freed namespace number again within 10 s")
    outer, inside = _namespace()
    held = hold_pidns(inside)
    assert held is not None
    _end(outer, inside)
    try:
        assert _tries_until_reused(held.name, 5) is None  # held: never given out
        neighbour, theirs = _namespace()
        try:
            assert held.kill() == 0
            assert neighbour.poll() is None and os.path.exists(f"/proc/{theirs}")
        finally:
            _end(neighbour, theirs)
    finally:
        held.release()


NICE = """import os
def nice(tid):
    with open(f"/proc/self/task/{tid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])
niced = {t: nice(t) for t in os.listdir("/proc/self/task") if nice(t) != 0}
assert not niced, f"the kernel's own threads were demoted: {niced}"
"""
# The budget's watcher measuring (and demoting) as often as it can: it certainly runs while the
# kernel starts, as it may on any busy machine.
EAGER_WATCH = [sys.executable, "-c", "import sys, grader.execution.kernel as k; k._BUDGET_EVERY = 0.002; "
               "from grader.cli import main; sys.exit(main(sys.argv[1:]))"]


@pytest.mark.parametrize("level", ["sandbox", "none"])
def test_the_kernels_own_threads_keep_their_priority(level, request):
    """Without a cgroup the notebook's processes and threads get the lowest CPU priority, but never
    the kernel's own (its message handling): before, the watcher demoted the threads ipykernel
    starts while the kernel was still starting, so on a loaded machine a kernel's replies waited
    behind every neighbour and trivial cells timed out (cell 2 of a correct notebook: 0.83 of 10)."""
    owner, folder = _workspace("ordinary-user", request)
    if level == "sandbox":
        _require_sandbox(owner)
    subs = folder / "subs"
    variant(subs / "nice_111_901_micrograd_exercises.ipynb", prepend=[NICE])
    result = _grade(owner, folder, subs, jobs=1, grader=EAGER_WATCH, env={"GRADER_ISOLATION": level},
                    options=("--no-sandbox",) if level == "none" else ())["111"]
    assert result["isolation"].startswith(f"{level}:"), result["isolation"]
    assert result["cells"][0] == {"number": 1, "status": "ok", "detail": ""}, result["cells"][0]
    assert result["total"] == "10", [q["message"] for q in result["questions"]]
