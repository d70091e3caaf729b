"""Beyond one machine: shards of a class at once into one OUT, and a batch on a real Dask cluster
(a LocalCluster of worker processes; a `dask scheduler` with `dask worker` processes) that loses
nothing when a worker is killed, stops every task on Ctrl-C, and refuses a worker with another
grader."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.cli import main
from grader.grading.shard import Shard, parse_shard, shard_of
from grader.errors import UsageError
from conftest import marked
from notebooks import ROOT, solution_path, variant, write_small_config

distributed = pytest.importorskip("distributed")
GRADER = [sys.executable, "-m", "grader"]
DASK = str(Path(sys.executable).parent / "dask")


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def ktmp() -> Path:
    """TMPDIR of every grader and worker here: its kernels' command lines name it."""
    path = Path(tempfile.mkdtemp(prefix="grader-cluster-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for pid in marked(str(path)):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def klass(tmp_path_factory, ktmp) -> tuple[Path, Path, Path]:
    """A class of six (three examples, the solution, two wrong variants), its config, and the
    OUT of grading it locally (--jobs 2, --seed 7): the reference every other run must match."""
    base = tmp_path_factory.mktemp("class")
    subs = base / "subs"
    subs.mkdir()
    for nb in (ROOT / "examples" / "submissions" / "micrograd").glob("*.ipynb"):
        shutil.copy(nb, subs / nb.name)
    shutil.copy(solution_path(), subs / "dave_99_1_micrograd_exercises.ipynb")
    variant(subs / "erin" / "micrograd_exercises.ipynb", edit={"q1-gradf": ("1/c**2", "-1/c**2")})
    variant(subs / "frank" / "micrograd_exercises.ipynb", append=["import os\nos._exit(1)"])
    config = write_small_config(base / "config")
    local = base / "local"
    done = subprocess.run([*GRADER, "run", str(subs), "--out", str(local), "--config", str(config),
                           "--seed", "7", "--jobs", "2"], env=_env(ktmp), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in rows(local)] == ["99", "alice_correct", "bob_partly_wrong",
                                              "carol_untouched", "erin", "frank"]
    assert {r["status"] for r in rows(local)} == {"graded"}
    return subs, config, local


def _env(ktmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(ktmp), "PYTHONUNBUFFERED": "1", **extra}


def _run(klass, out: Path, ktmp: Path, *args: str, **kw) -> subprocess.Popen:
    subs, config, _ = klass
    return subprocess.Popen([*GRADER, "run", str(subs), "--out", str(out), "--config", str(config),
                             "--seed", "7", *args], env=_env(ktmp), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _same_grades(out: Path, local: Path) -> None:
    assert (out / "grades.csv").read_text() == (local / "grades.csv").read_text()
    for row in rows(out):
        record = json.loads((out / "submissions" / row["id"] / "result.json").read_text())["result"]
        assert record["internal_error"] is None and record["seed"] == 7


# ----------------------------------------------------------------------------- shards

def test_shard_is_a_stable_hash_of_the_id_and_checked():
    assert shard_of("12345", 3) == 1 + int.from_bytes(
        __import__("hashlib").sha256(b"12345").digest()[:8], "big") % 3
    ids = [f"s{i}" for i in range(300)]
    split = [sum(shard_of(s, 3) == k for s in ids) for k in (1, 2, 3)]
    assert sum(split) == 300 and min(split) > 60  # every shard gets a fair part
    assert parse_shard(" 2/8 ") == Shard(2, 8) and Shard(2, 8).holds("x") == (shard_of("x", 8) == 2)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


def test_shards_share_out_but_a_plain_batch_or_report_waits_for_them(tmp_path):
    from grader.grading.shard import SharedStore
    from grader.gradebook.store import Store

    out = tmp_path / "out"
    with SharedStore(out, Shard(1, 2)).locked(), SharedStore(out, Shard(2, 2)).locked():
        with pytest.raises(UsageError, match="another grader batch is writing"):
            with Store(out).locked():
                pass
    with Store(out).locked("report"):
        with pytest.raises(UsageError, match="run shard 1/2 when it has finished"):
            with SharedStore(out, Shard(1, 2)).locked():
                pass


@pytest.mark.slow
def test_three_shards_at_once_into_one_out_give_the_one_run_grades(klass, tmp_path, ktmp):
    out = tmp_path / "out"
    shards = [_run(klass, out, ktmp, "--shard", f"{i}/3", "--jobs", "1") for i in (1, 2, 3)]
    for shard in shards:
        _, err = shard.communicate(timeout=600)
        assert shard.returncode == 0, err
    _same_grades(out, klass[2])
    assert not list(out.glob("submissions/*/.*.tmp")) and not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_shards_in_their_own_outs_merge_into_the_whole_class(klass, tmp_path, ktmp, capsys):
    outs = [tmp_path / f"out{i}" for i in (1, 2)]
    shards = [_run(klass, out, ktmp, "--shard", f"{i}/2", "--jobs", "1")
              for i, out in zip((1, 2), outs)]
    for shard in shards:
        _, err = shard.communicate(timeout=600)
        assert shard.returncode == 0, err
    ids = [{r["id"] for r in rows(out) if r["status"] == "graded"} for out in outs]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    # Each shard's grades.csv lists the whole class: the other shard's students as not graded.
    assert all(len(rows(out)) == 6 for out in outs)
    assert main(["merge", *map(str, outs), "--out", str(tmp_path / "all")]) == 0
    assert "merged 6 students" in capsys.readouterr().out
    _same_grades(tmp_path / "all", klass[2])


# ----------------------------------------------------------------------------- Dask

@pytest.mark.slow
def test_a_local_cluster_of_worker_processes_grades_like_a_local_batch(klass, tmp_path, ktmp,
                                                                        monkeypatch, capsys):
    monkeypatch.setenv("TMPDIR", str(ktmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    subs, config, local = klass
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:  # 8787 may be taken
        out = tmp_path / "out"
        assert main(["run", str(subs), "--out", str(out), "--config", str(config), "--seed", "7",
                     "--cluster", cluster.scheduler_address]) == 0
    assert "6 submissions: 6 graded" in capsys.readouterr().out
    _same_grades(out, local)


def test_an_unreachable_scheduler_is_exit_2_and_creates_nothing(tmp_path, klass, monkeypatch, capsys):
    import grader.grading.cluster

    monkeypatch.setattr(grader.grading.cluster, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subs, config, _ = klass
    out = tmp_path / "out"
    assert main(["run", str(subs), "--out", str(out), "--config", str(config),
                 "--cluster", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert not out.exists()


class DaskCluster:
    """A real `dask scheduler` and `dask worker` processes on localhost."""

    def __init__(self, ktmp: Path, folder: Path) -> None:
        self.ktmp, self.folder, self.workers = ktmp, folder, []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler = self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--no-dashboard"], "scheduler")
        self.wait(0)

    def _spawn(self, argv: list[str], name: str, **env: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as log:
            return subprocess.Popen(argv, env=_env(self.ktmp, **env), stdout=log, stderr=log,
                                    start_new_session=True)

    def add_worker(self, name: str, **env: str) -> subprocess.Popen:
        worker = self._spawn([DASK, "worker", self.address, "--nthreads", "1", "--no-dashboard",
                              "--name", name, "--local-directory", str(self.folder / name)],
                             name, **env)
        self.workers.append(worker)
        return worker

    def client(self) -> distributed.Client:
        return distributed.Client(self.address, timeout=30, set_as_default=False)

    def wait(self, n: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with self.client() as client:
                    if len(client.scheduler_info(n_workers=-1)["workers"]) >= n:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise AssertionError(f"the cluster did not get {n} workers: {self.folder}")

    def stop(self, process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            self.stop(process)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory, ktmp):
    cluster = DaskCluster(ktmp, tmp_path_factory.mktemp("dask"))
    try:
        for name in ("w1", "w2"):
            cluster.add_worker(name)
        cluster.wait(2)
        yield cluster
    finally:
        cluster.close()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(klass, tmp_path, ktmp,
                                                                        dask_cluster):
    out = tmp_path / "out"
    client = _run(klass, out, ktmp, "--cluster", dask_cluster.address)
    line = client.stderr.readline()
    while line and not line.startswith("[1/6]"):
        line = client.stderr.readline()
    assert line.startswith("[1/6]"), client.communicate()
    # Kill a worker process while its next submission is in flight (its nanny starts another,
    # which the client checks before giving it work).
    with dask_cluster.client() as c:
        pids = c.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    rest, err = client.communicate(timeout=600)
    assert client.returncode == 0, line + err
    done = [ln for ln in (line + err).splitlines() if ln.startswith("[")]
    assert len(done) == 6 and len({ln.split()[1] for ln in done}) == 6, done
    _same_grades(out, klass[2])
    assert sorted(p.parent.name for p in out.glob("submissions/*/result.json")) == \
        sorted(r["id"] for r in rows(klass[2]))


@pytest.mark.slow
def test_ctrl_c_leaves_no_task_running_on_the_cluster_and_the_run_resumes(klass, tmp_path, ktmp,
                                                                          dask_cluster):
    """Ctrl-C as soon as the first result is in, while a slow classmate (twenty seconds of short
    sleeps) is certainly still being graded however busy the machine: nothing stays running, and
    the same command finishes the class with the grades a local batch gives."""
    dask_cluster.wait(2)
    subs, config, local = klass
    here = tmp_path / "subs"
    shutil.copytree(subs, here)
    variant(here / "aaron" / "micrograd_exercises.ipynb", prepend=["import time\ntime.sleep(2)"] * 10)
    out = tmp_path / "out"

    def run() -> subprocess.Popen:
        return subprocess.Popen([*GRADER, "run", str(here), "--out", str(out), "--config", str(config),
                                 "--seed", "7", "--cluster", dask_cluster.address], env=_env(ktmp),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    client = run()
    line = client.stderr.readline()
    while line and not line.startswith("[1/7]"):
        line = client.stderr.readline()
    assert line.startswith("[1/7]"), client.communicate()
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=120)
    assert client.returncode == 130, err
    assert "interrupted; run the same command again" in err
    assert marked(str(ktmp)) == []  # no kernel still grading on any worker
    with dask_cluster.client() as c:
        assert not any(c.processing().values())  # and no task of ours left on the scheduler
    graded = {p.parent.name for p in out.glob("submissions/*/result.json")}
    assert 1 <= len(graded) < 7 and "aaron" not in graded
    assert {r["status"] for r in rows(out) if r["id"] not in graded} == {"not_graded"}

    again = run()
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"{len(graded)} of 7 submissions already graded" in err
    resumed = {r["id"]: r for r in rows(out)}
    assert resumed.pop("aaron")["total"] == "10"
    assert list(resumed.values()) == rows(local)
    for sid in resumed:
        record = json.loads((out / "submissions" / sid / "result.json").read_text())["result"]
        assert record["internal_error"] is None and record["seed"] == 7


@pytest.mark.slow
def test_a_worker_with_another_grader_is_refused_by_name(klass, tmp_path, ktmp, dask_cluster):
    """A real other grader: a copy of the package with another version, first on the worker's
    path; the client refuses the run, names that worker, and creates nothing."""
    other = tmp_path / "other"
    shutil.copytree(ROOT / "grader", other / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    init = other / "grader" / "__init__.py"
    init.write_text(init.read_text().replace("__version__ = ", "__version__ = '0.0.1-other' or "))
    none = tmp_path / "none" / "grader"  # a worker where the grader cannot be imported at all
    none.mkdir(parents=True)
    (none / "__init__.py").write_text("raise ImportError('no grader here')\n")
    bad = [dask_cluster.add_worker("old", PYTHONPATH=str(other)),
           dask_cluster.add_worker("none", PYTHONPATH=str(none.parent))]
    try:
        dask_cluster.wait(4)
        out = tmp_path / "out"
        client = _run(klass, out, ktmp, "--cluster", dask_cluster.address)
        _, err = client.communicate(timeout=300)
        assert client.returncode == 2, err
        with dask_cluster.client() as c:
            names = {info.get("name"): w for w, info in c.scheduler_info(n_workers=-1)["workers"].items()}
        assert f"worker {names['old']}: it has grader 0.0.1-other, this client grader 0.1.0" in err, err
        assert f"worker {names['none']}: the grader is not installed there (ImportError: no grader here)" \
            in err, err
        assert names["w1"] not in err and names["w2"] not in err
        assert not out.exists()
    finally:
        for worker in bad:
            dask_cluster.stop(worker)
            dask_cluster.workers.remove(worker)
