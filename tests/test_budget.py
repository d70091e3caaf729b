"""Budgets without kernels: cgroup v2 and v1 against fake cgroup trees, the CPU-fair clock, the
bounded kernel log, and how many kernels a machine holds."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from grader.model import Limits
from grader.sandbox import cgroup, clock, kernlog, machine


def _tree(root: Path, mountinfo: str, own: str, files: dict[str, str]) -> None:
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/mountinfo").write_text(mountinfo)
    (root / "proc/self/cgroup").write_text(own)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


V2_MOUNT = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v2_delegated_subtree(tmp_path):
    """An ordinary user's delegated cgroup (systemd's user@.service): a kernels' subtree under it,
    every limit written, cpu time and limit events read back, the whole folder removed."""
    own = "user.slice/user-1000.slice/user@1000.service/app.slice/grader.scope"
    base = f"sys/fs/cgroup/{own}"
    _tree(tmp_path, V2_MOUNT, f"0::/{own}\n",
          {f"{base}/cgroup.controllers": "cpu memory pids\n", f"{base}/cgroup.subtree_control": ""})
    found = cgroup.detect(tmp_path, pid=os.getpid())
    assert found.kind is cgroup.Kind.V2 and found.fake, found
    assert set(found.controls) == {"memory", "pids", "cpu"}
    kernels = found.base("")
    assert kernels is not None and kernels.parent == tmp_path / base
    assert (tmp_path / base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (kernels / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    (kernels / "cgroup.controllers").write_text("cpu memory pids\n")
    group = cgroup.Group.create(found, "k1", cgroup.Budget(memory_mb=512, processes=64, cpus=1.0))
    folder = kernels / "k1"
    assert (folder / "memory.max").read_text() == str(512 * 1024 * 1024)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "pids.max").read_text() == "64"
    assert (folder / "cpu.max").read_text() == "100000 100000"
    assert (folder / "cpu.weight").read_text() == "100"
    assert group.procs_files == [str(folder / "cgroup.procs")]
    (folder / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    (folder / "pids.events").write_text("max 3\n")
    assert group.cpu_seconds() == 2.5
    assert group.events() == {"oom_kill": 1, "pids_max": 3}
    group.remove()
    assert not folder.exists() and group.folders == {}


def test_v2_sweep_kills_only_kernels_of_dead_graders(tmp_path):
    """A grader that found processes in its own cgroup moved them into a leaf ``grader-TAG``; when
    it died, a later grader's sweep kills and removes the dead one's kernels' subtree, but never
    kills what is in the leaf (a container's first process, a shell): it removes the leaf only
    once it is empty."""
    own = "container"
    base = tmp_path / f"sys/fs/cgroup/{own}"
    _tree(tmp_path, V2_MOUNT, f"0::/{own}\n",
          {f"sys/fs/cgroup/{own}/cgroup.controllers": "cpu memory pids\n",
           f"sys/fs/cgroup/{own}/cgroup.subtree_control": ""})
    found = cgroup.detect(tmp_path, pid=os.getpid())
    assert found.kind is cgroup.Kind.V2, found
    dead = "grader-999999999.1"
    for name, procs in [(dead, "1\n4242\n"), (f"{dead}-kernels", ""),
                        (f"{dead}-kernels/k1", "4343\n"), ("grader-999999998.1", "")]:
        (base / name).mkdir()
        (base / name / "cgroup.procs").write_text(procs)
    killed: list[str] = []
    real_kill = cgroup.Group.kill
    cgroup.Group.kill = lambda self: killed.extend(str(f) for f in self.folders.values())
    try:
        assert cgroup.sweep(found) == 2  # the dead kernels' subtree and the empty leaf
    finally:
        cgroup.Group.kill = real_kill
    assert killed == [str(base / f"{dead}-kernels/k1"), str(base / f"{dead}-kernels")], killed
    assert not (base / f"{dead}-kernels").exists()
    assert not (base / "grader-999999998.1").exists()
    assert (base / dead / "cgroup.procs").read_text() == "1\n4242\n"  # untouched, not killed
    assert found.base("").exists()  # this grader's own kernels' subtree is alive
    (base / dead / "cgroup.procs").write_text("")  # its processes left (or ended) meanwhile
    assert cgroup.sweep(found) == 1 and not (base / dead).exists()


def test_v2_without_delegation_or_controllers_falls_back(tmp_path):
    """A v2 mount without the memory controller (this machine's) and no v1: no budget, said why."""
    _tree(tmp_path, V2_MOUNT, "0::/\n", {"sys/fs/cgroup/cgroup.controllers": "cpu\n"})
    found = cgroup.detect(tmp_path)
    assert found.kind is cgroup.Kind.NONE
    assert "memory and pids controllers are not available" in found.detail


def test_v1_hierarchies(tmp_path):
    mountinfo = "".join(
        f"{30 + i} 25 0:{40 + i} / /sys/fs/cgroup/{name} rw - cgroup cgroup rw,{opts}\n"
        for i, (name, opts) in enumerate([("memory", "memory"), ("pids", "pids"),
                                          ("cpu,cpuacct", "cpu,cpuacct")]))
    own = "4:memory:/process_api/abc\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"
    _tree(tmp_path, mountinfo + V2_MOUNT.replace("/sys/fs/cgroup ", "/sys/fs/cgroup/unified "), own,
          {"sys/fs/cgroup/memory/process_api/abc/memory.memsw.limit_in_bytes": "",
           "sys/fs/cgroup/pids/cgroup.procs": "", "sys/fs/cgroup/cpu,cpuacct/cgroup.procs": "",
           "sys/fs/cgroup/unified/cgroup.controllers": ""})
    found = cgroup.detect(tmp_path)
    assert found.kind is cgroup.Kind.V1, found
    assert found.base("memory") == tmp_path / "sys/fs/cgroup/memory/process_api/abc"
    assert found.base("cpu") == found.base("cpuacct") == tmp_path / "sys/fs/cgroup/cpu,cpuacct"
    group = cgroup.Group.create(found, f"grader-{cgroup.tag()}-x", cgroup.Budget(256, 32, 1.0))
    memory = group.folders["memory"]
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (group.folders["pids"] / "pids.max").read_text() == "32"
    assert (group.folders["cpu"] / "cpu.cfs_quota_us").read_text() == "100000"
    assert (group.folders["cpu"] / "cpu.shares").read_text() == "1024"
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.events()["oom_kill"] == 2
    # A grader killed with -9 leaves its cgroups; the next one removes them, never a live one's.
    dead = cgroup.Group.create(found, "grader-999999999.1-y", cgroup.Budget(256, 32))
    assert not (dead.folders["cpu"] / "cpu.cfs_quota_us").exists()  # an equal share, no cap
    assert (dead.folders["cpu"] / "cpu.shares").read_text() == "1024"
    assert cgroup.sweep(found) == 1
    assert all(not f.exists() for f in dead.folders.values())
    assert all(f.exists() for f in group.folders.values())
    group.remove()


@pytest.mark.skipif(os.geteuid() != 0 or cgroup.detect().kind is cgroup.Kind.NONE,
                    reason="needs a writable cgroup hierarchy")
def test_real_cgroup_kills_every_process_and_counts_cpu():
    found = cgroup.detect()
    group = cgroup.Group.create(found, f"grader-{cgroup.tag()}-test", cgroup.Budget(256, 16))
    try:
        import subprocess
        import sys
        proc = subprocess.Popen([sys.executable, "-c", "import os,time\nfor _ in range(3):\n"
                                 "    os.fork() or os.setsid()\nt=time.process_time()\n"
                                 "while time.process_time() - t < 0.3: pass\ntime.sleep(600)"])
        group.join(proc.pid)
        deadline = time.monotonic() + 60
        while len(group.pids()) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(group.pids()) == 8
        while (group.cpu_seconds() or 0) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (group.cpu_seconds() or 0) >= 1.0
        group.kill()
        assert group.pids() == []
        proc.wait(10)
    finally:
        group.remove()
    assert group.folders == {}


def test_clock_charges_sleep_not_waiting_for_a_cpu():
    """Sleeping is the kernel's own time (a cell that sleeps times out); the wall clock only
    where the scheduler's statistics are missing, and as the backstop."""
    watch = clock.Stopwatch(os.getpid())
    assert watch.measured
    while watch.charged() < 0.2 and watch.wall() < 30:  # waking up may wait for a CPU: not charged
        time.sleep(0.05)
    assert watch.expired(0.2) == clock.OWN and watch.expired(3600) is None
    assert 0 <= watch.wait() <= watch.wall()
    blind = clock.Stopwatch(None)
    time.sleep(0.05)
    assert not blind.measured and blind.expired(0.01) == clock.WALL
    assert clock.BACKSTOP >= 3


def _on_a_busy_cpu(work) -> None:
    """Run ``work()`` in a thread pinned to one CPU beside four busy processes pinned there too
    (five runnable on one CPU: the thread mostly waits for it)."""
    import subprocess
    import sys
    cpu = min(os.sched_getaffinity(0))
    hogs = [subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n"
                              "print(flush=True)\nwhile True: pass"], stdout=subprocess.PIPE)
            for _ in range(4)]

    def pinned():
        os.sched_setaffinity(0, {cpu})
        work()

    try:
        for hog in hogs:
            hog.stdout.readline()  # running
        thread = threading.Thread(target=pinned)
        thread.start()
        thread.join(60)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
            hog.stdout.close()


def test_clock_ignores_time_spent_waiting_for_a_cpu():
    """A thread kept off its CPU by busy processes is charged well under its wall time."""
    result = {}

    def busy():
        tid = threading.get_native_id()
        wait0, wall0 = clock.waited(os.getpid(), tid), time.monotonic()
        while time.monotonic() - wall0 < 2:
            pass
        result.update(waited=clock.waited(os.getpid(), tid) - wait0, wall=time.monotonic() - wall0)

    _on_a_busy_cpu(busy)
    assert result["waited"] > 0.3 * result["wall"], result  # 5 runnable on one CPU: mostly waiting


def test_clock_ignores_the_graders_own_wait_for_a_cpu():
    """The grader's thread that reads the kernel's replies, kept off its CPU by busy processes,
    is not charged to the kernel: on a loaded machine the grader's loop waited seconds while a
    trivial cell ran (and the kernel waited nothing), and such cells timed out."""
    import subprocess
    import sys
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # waits for nothing
    result = {}

    def reader():
        watch = clock.Stopwatch(kernel.pid)
        while watch.wall() < 2:
            pass
        result.update(charged=watch.charged(), wall=watch.wall(), expired=watch.expired(1.5))

    try:
        _on_a_busy_cpu(reader)
    finally:
        kernel.kill()
        kernel.wait()
    assert result["charged"] < 0.7 * result["wall"], result  # 5 runnable on one CPU: mostly waiting
    assert result["expired"] is None, result


def test_clock_ignores_the_graders_loop_busy_elsewhere():
    """The grader's loop held by other work (judging a classmate, writing a result, ending a kernel)
    between two looks at a kernel is not the kernel's time; a reader that looks regularly while
    the kernel sleeps charges it the sleep."""
    import subprocess
    import sys
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # waits for nothing
    try:
        watch = clock.Stopwatch(kernel.pid, every=0.2)
        time.sleep(0.1)
        assert watch.expired(1.0) is None
        time.sleep(2.0)  # the loop busy elsewhere: no look for 2 s
        assert watch.wall() > 2.0 and watch.charged() < 0.9, (watch.wall(), watch.charged())
        assert watch.expired(1.0) is None
        regular = clock.Stopwatch(kernel.pid, every=0.2)
        while regular.charged() < 1.0 and regular.wall() < 30:
            time.sleep(0.1)
        assert regular.expired(1.0) == clock.OWN, (regular.wall(), regular.charged())
    finally:
        kernel.kill()
        kernel.wait()


def test_kernel_log_keeps_head_and_tail_within_a_budget(tmp_path):
    budget = kernlog.Budget(total=3 * (kernlog.HEAD + kernlog.TAIL))
    sizes = []
    for start in range(6):  # six restarts, each writing 8 MiB
        read, write = os.pipe()
        log = kernlog.BoundedLog(tmp_path / f"kernel-{start}.log", read, budget)
        payload = b"".join(b"line %d of start %d\n" % (i, start) for i in range(400_000))
        with os.fdopen(write, "wb") as fh:
            fh.write(payload)
        log.close(30)
        data = (tmp_path / f"kernel-{start}.log").read_bytes()
        sizes.append(len(data))
        if start < 3:
            assert data.startswith(b"line 0 of start %d\n" % start)
            assert data.endswith(b"line 399999 of start %d\n" % start)
            assert b"bytes of the kernel's output left out" in data
    assert sum(sizes) <= 3 * (kernlog.HEAD + kernlog.TAIL) + 6 * 100, sizes
    assert sizes[-1] < 100  # the submission's budget is spent: later starts keep nothing


def test_kernel_log_ends_though_a_process_keeps_its_pipe_open(tmp_path):
    """A process that outlived its kernel holds the log's pipe open (and may keep writing): close()
    still keeps what was written, ends the reading thread and closes the grader's end."""
    read, write = os.pipe()
    log = kernlog.BoundedLog(tmp_path / "kernel-1.log", read, kernlog.Budget())
    os.write(write, b"Traceback: the kernel's last words\n")
    assert "the kernel's last words" in log.last()  # read while the thread still drains
    stop = threading.Event()

    def chatter() -> None:  # a live writer that never ends on its own
        while not stop.is_set():
            with contextlib.suppress(BlockingIOError):
                os.write(write, b"x" * 4096)
            time.sleep(0.001)

    os.set_blocking(write, False)
    writer = threading.Thread(target=chatter, daemon=True)
    writer.start()
    try:
        log.close()
        assert not log.thread.is_alive()
        with pytest.raises(OSError):
            os.fstat(read)  # the grader's end of the pipe is closed
        assert (tmp_path / "kernel-1.log").read_bytes().startswith(b"Traceback: the kernel's last")
    finally:
        stop.set()
        writer.join()
        os.close(write)


def test_jobs_fit_the_machine():
    limits = Limits(memory_mb=2048)
    v1 = cgroup.Hierarchy(cgroup.Kind.V1)
    assert machine.fit_jobs(None, limits, v1, cores=2, memory_mb=23000).jobs == 2
    fit = machine.fit_jobs(1000, limits, v1, cores=2, memory_mb=23000)
    assert fit.jobs == 4 and fit.notice == "--jobs 1000 capped to 4 (2 cores)"
    fit = machine.fit_jobs(16, limits, v1, cores=64, memory_mb=10000)
    assert fit.jobs == 3 and "10000 MiB available, 2048 MiB per kernel" in fit.notice
    # Without a cgroup, a kernel's tmpfs mounts count on top of its memory.
    fit = machine.fit_jobs(16, Limits(memory_mb=2048, disk_mb=256), None, cores=64, memory_mb=10000)
    assert fit.jobs == 2 and "2816 MiB per kernel" in fit.notice
    assert machine.fit_jobs(3, limits, v1, cores=2, memory_mb=23000).notice == ""
