"""Kernels forked from warm zygotes: nothing crosses between submissions, a dead zygote is
replaced, and the grader's death leaves nothing behind -- real kernels, graded by the command as
root and as an ordinary user, in the bubblewrap sandbox (where zygotes are used)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from notebooks import solution_path, variant, write
from test_contain import IDENTITIES, _grade, _workspace
from test_sandbox import GRADER, _require_sandbox

pytestmark = pytest.mark.slow

HOSTILE = r"""import builtins, ctypes, math, os, signal, subprocess, sys, threading, time
import numpy, random
builtins.abs = lambda x: 0
builtins.EVIL = True
math.sqrt = lambda x: -1.0
math.pi = 3
numpy.sum = lambda *a, **k: 0
random.random = lambda: 0.5
sys.modules['evil_module'] = type(sys)('evil_module')
sys.modules['csv'] = type(sys)('csv')
os.environ['EVIL'] = '1'
for name in ('/tmp/evil', '/dev/shm/evil', os.path.expanduser('~/evil'), 'evil', '/run/kernel/evil'):
    try:
        with open(name, 'w') as fh:
            fh.write('x')
    except OSError:
        pass
threading.Thread(target=time.sleep, args=(600,), name='evil-thread', daemon=True).start()
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', 'evil-process'],
                 start_new_session=True)
libc = ctypes.CDLL(None, use_errno=True)
me, mine = os.getpid(), set()
for pid in [os.getppid(), 1, 2, 3] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:
    if pid == me:
        continue
    for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
    libc.ptrace(0x4206, pid, 0, 0)  # PTRACE_SEIZE
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
"""

# The clean notebook's last cell: it fails (and the test with it) on any trace of the hostile one.
CLEAN_CHECK = r"""import builtins, math, os, sys, threading
import numpy, random, csv
seen = []
if abs(-2) != 2 or hasattr(builtins, 'EVIL'): seen.append('builtins')
if math.sqrt(4.0) != 2.0 or math.pi == 3: seen.append('math')
if numpy.sum([1, 2]) != 3: seen.append('numpy')
if random.random() == 0.5: seen.append('random')
if 'evil_module' in sys.modules or not hasattr(csv, 'reader'): seen.append('sys.modules')
if 'EVIL' in os.environ: seen.append('environment')
for name in ('/tmp/evil', '/dev/shm/evil', os.path.expanduser('~/evil'), 'evil', '/run/kernel/evil'):
    if os.path.exists(name): seen.append(name)
if any(t.name == 'evil-thread' for t in threading.enumerate()): seen.append('thread')
for pid in (p for p in os.listdir('/proc') if p.isdigit()):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as fh:
            if b'evil-process' in fh.read(): seen.append('process')
    except OSError:
        pass
assert not seen, seen
"""


def _zygote_pids(marker: str, outermost: bool = False) -> list[int]:
    """Zygotes (and their children, which carry their command line) of the grader whose command
    line names ``marker``: not those of other tests running alongside. ``outermost``: only each
    zygote's own sandbox process, the grader's child."""
    cmdlines, parents = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdlines[int(entry)] = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                parents[int(entry)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    graders = {pid for pid, line in cmdlines.items() if marker.encode() in line}
    found = []
    for pid, line in cmdlines.items():
        if b"grader-zygote" not in line:
            continue
        if outermost:
            if parents.get(pid) in graders:
                found.append(pid)
            continue
        up, seen = pid, 0
        while up in parents and seen < 64:
            up, seen = parents[up], seen + 1
            if up in graders:
                found.append(pid)
                break
    return found


@pytest.mark.parametrize("which", IDENTITIES)
def test_nothing_crosses_from_a_hostile_notebook_to_the_next(which, request):
    """A notebook that patches builtins and modules, edits sys.modules, the environment and files,
    leaves a thread and a process, and signals and traces every process it can name (its parent
    among them), then clean notebooks in the same batch (one kernel at a time, so later ones are
    forked from the zygote that served the hostile one): each sees none of it and scores 10."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    write(subs / "mallory_111_901_micrograd_exercises.ipynb", [HOSTILE])
    for n in range(3):
        variant(subs / f"clean_2{n}2_90{n}_micrograd_exercises.ipynb", append=[CLEAN_CHECK])
    results = _grade(owner, folder, subs, jobs=1)
    assert "warm zygote" in results["111"]["isolation"], results["111"]["isolation"]
    for n in range(3):
        clean = results[f"2{n}2"]
        assert clean["total"] == "10", [q["message"] for q in clean["questions"]]
        assert clean["cells"][-1]["status"] == "ok", clean["cells"][-1]
        assert "warm zygote" in clean["isolation"], clean["isolation"]


@pytest.mark.parametrize("which", IDENTITIES)
def test_a_killed_zygote_is_replaced_mid_batch(which, request):
    """Every zygote is killed (its sandbox, and so everything in it: the kernels it forked too)
    once the first result is stored: the batch goes on with new ones and every submission still
    scores 10 (a cell that was running when its kernel died with the zygote runs again)."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    for n in range(5):
        variant(subs / f"s_3{n}3_90{n}_micrograd_exercises.ipynb")
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        stored = folder / "out" / "submissions"
        while not stop.is_set():
            if stored.is_dir() and any((d / "result.json").exists() for d in stored.iterdir()):
                for pid in _zygote_pids(str(subs), outermost=True):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except OSError:
                        pass
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        results = _grade(owner, folder, subs, jobs=1)
    finally:
        stop.set()
        thread.join()
    assert killed, "no zygote was found to kill"
    for n in range(5):
        result = results[f"3{n}3"]
        assert result["total"] == "10", (n, [q["message"] for q in result["questions"]],
                                         result["notes"], result["cells"])
    assert any("warm zygote" in r["isolation"] for sid, r in results.items() if sid in ("323", "333", "343"))


@pytest.mark.parametrize("which", IDENTITIES)
def test_grader_killed_mid_batch_leaves_no_zygote_or_kernel(which, request):
    """SIGKILL of the grader while kernels run: its zygotes and their children die with it."""
    owner, folder = _workspace(which, request)
    _require_sandbox(owner)
    subs = folder / "subs"
    for n in range(4):
        variant(subs / f"s_4{n}4_90{n}_micrograd_exercises.ipynb",
                append=["import time\ntime.sleep(30)"])
    config = Path(__file__).resolve().parents[1] / "assignments.yml"
    env = {**os.environ}
    env.pop("GRADER_CONFIG", None)
    who = {}
    if owner is not None:
        env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
        who = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    ours: set[int] = set()
    grader = subprocess.Popen([*GRADER, "run", str(subs), "--out", str(folder / "out"), "--jobs", "2",
                               "--config", str(config)], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **who)
    try:
        deadline = time.monotonic() + 120
        while not ours and time.monotonic() < deadline:
            ours.update(_zygote_pids(str(subs)))
            time.sleep(0.1)
        assert ours, "the batch started no zygote"
        time.sleep(3)  # kernels forked and running their cells
        ours.update(_zygote_pids(str(subs)))
    finally:
        grader.kill()
        grader.wait()

    def alive() -> set[int]:
        left = set()
        for pid in ours:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if b"grader-zygote" in fh.read():
                        left.add(pid)
            except OSError:
                continue
        return left

    deadline = time.monotonic() + 30
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    # A zygote's children (the kernels among them) carry its command line: counted here too.
    assert len(ours) > 1 and not alive(), (ours, alive())


def test_a_zygote_whose_kernels_die_at_start_costs_the_notebook_nothing(config, policy, monkeypatch):
    """A zygote's child that dies after it said it is the kernel (here: an environment that cannot
    be set, so the kernel never opens its sockets): the kernel starts again cold, the solution
    scores 10, the result says so, and the zygotes are charged with the failure."""
    from grader.grading.grade import GradeOptions, grade_notebook
    from grader.sandbox import jail, zygote

    if zygote.supported(policy) is not None:
        pytest.skip(f"kernels start cold here: {zygote.supported(policy)}")
    original = jail.Jail.zygote_request

    def broken(self, *args, **kwargs):
        request, log = original(self, *args, **kwargs)
        request["env"]["GRADER_NOT_A_STRING"] = 1
        return request, log

    monkeypatch.setattr(jail.Jail, "zygote_request", broken)
    with zygote.using(policy) as pool:
        result = grade_notebook(solution_path(), config.get("micrograd"), name="s.ipynb",
                                options=GradeOptions(seed=1, policy=policy), config_digest=config.digest)
        assert pool is not None and pool.failures == 1, pool and pool.problem
        assert pool.problem.startswith("a kernel from the zygote did not start"), pool.problem
    assert result.score == 10, [q.message for q in result.questions]
    assert "cold start" in result.isolation, result.isolation


def test_a_zygote_that_never_answers_costs_a_timeout_and_leaves_nothing(tmp_path, policy, monkeypatch):
    """A zygote's sandbox killed while it starts can leave bubblewrap's inner process waiting for
    ever with the other end of the control socket: the grader then waited for the greeting in a
    blocking read, its whole loop with it (a batch hung for good). Here a stand-in for bubblewrap
    leaves such a process behind and exits: the wait ends at the ready timeout, and closing the
    zygote kills what was left."""
    import asyncio
    import dataclasses
    import uuid

    from grader.sandbox import reap, zygote

    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\nsleep 300 &\nexec sleep 301\n")
    fake.chmod(0o755)
    monkeypatch.setattr(zygote, "_READY_TIMEOUT", 1.0)
    token = f"zygote-test-{uuid.uuid4().hex}"

    def left() -> list[int]:
        return [pid for pid in reap.pids() if reap.carries_token(pid, token)]

    class Hung(Exception):
        """The grader's loop blocked waiting for the zygote (not asyncio's timeout)."""

    def hung(signum, frame):
        raise Hung()

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    made = zygote.Zygote(dataclasses.replace(policy, bwrap=str(fake)), None,
                         {"PATH": os.environ["PATH"], "GRADER_KERNEL_TOKEN": token})
    try:
        deadline = time.monotonic() + 30
        while len(left()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(left()) == 2, left()
        with pytest.raises(zygote.ZygoteError, match="did not get ready in time"):
            asyncio.run(made.ready())
    finally:
        made.close()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert left() == []
