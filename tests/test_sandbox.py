"""The sandbox, attacked: as root and as an ordinary user, one notebook and a batch of two at once.

An attacker notebook with no answers of its own tries every way out we know of to get one: a
secret planted in the grading user's home, the course's solutions and config, a classmate's
submission file and working folder (the classmate runs at the same time and keeps its answer in
its working folder), the classmate's kernel (its connection file and sockets), a loopback server
that hands out the solution, writing a forged result into ``--out``; and it leaves a ``setsid``
process and large files in ``/tmp`` and ``/dev/shm`` behind. It must earn nothing, the classmate
must keep full marks, and nothing it started or wrote may remain.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import sys
import uuid
from pathlib import Path

import pytest

from conftest import Listener, files_named, marked
from grader.sandbox import Level, detect
from notebooks import ROOT, solution_path, variant, write

pytestmark = pytest.mark.slow
GRADER = [sys.executable, "-m", "grader"]


def solution_source() -> str:
    nb = json.loads(solution_path().read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"]
                     if c["cell_type"] == "code" and "torch" not in "".join(c["source"]))


def attacker(path: Path, *, mark: str, secret: Path, classmate: Path, out: Path | None,
             port: int | None, course: bool = True) -> Path:
    """A notebook that answers nothing itself and tries every way to get someone's answers."""
    probe = f"""
import glob, json, os, socket, subprocess, sys, time
found, source = [], ''
def grab(what, path):
    global source
    try:
        if os.path.isdir(path):
            for name in os.listdir(path):
                grab(what, os.path.join(path, name))
            return
        with open(path, errors='replace') as fh:
            text = fh.read()
    except Exception:
        return
    if not text:
        return
    found.append(what + ':' + path)
    if path.endswith('.ipynb'):
        try:
            text = '\\n'.join(''.join(c['source']) for c in json.loads(text)['cells']
                             if c['cell_type'] == 'code' and 'torch' not in ''.join(c['source']))
        except Exception:
            pass
    source += '\\n' + text
grab('secret', {str(secret)!r})
if {course!r}:
    grab('solutions', {str(ROOT / 'solutions')!r})
    grab('config', {str(ROOT / 'assignments.yml')!r})
grab('classmate-file', {str(classmate)!r})
for p in glob.glob('/proc/[0-9]*/cmdline'):  # the grader's command line names the folder
    try:
        words = open(p, 'rb').read().decode(errors='replace').split(chr(0))
    except Exception:
        continue
    for word in words:
        if word.endswith('.ipynb') or os.path.isdir(word):
            for nb in glob.glob(word) + glob.glob(os.path.join(word, '*.ipynb')):
                if 'victim' in nb:
                    grab('classmate-via-proc', nb)
for _ in range(40):  # the classmate runs now: look for its working folder and its kernel
    for pattern in ['/tmp/grader-*/work/answer.py', '/proc/*/cwd/answer.py',
                    '/proc/*/root/home/student/answer.py', '/tmp/answer.py', '/dev/shm/answer.py']:
        for p in glob.glob(pattern):
            grab('classmate-work', p)
    mine = get_ipython().kernel.session.key.decode()
    for p in glob.glob('/tmp/grader-*/connection.json') + glob.glob('/proc/*/root/run/connection.json'):
        try:
            if json.load(open(p))['key'] != mine:  # another kernel's key: it could drive that kernel
                found.append('classmate-kernel:' + p)
        except Exception:
            pass
    if 'classmate' in ' '.join(found):
        break
    time.sleep(0.25)
"""
    if port is not None:
        probe += f"""
try:
    with socket.create_connection(('127.0.0.1', {port}), timeout=2) as s:
        data = s.makefile().read()
    found.append('network'); source += '\\n' + data
except Exception:
    pass
"""
    if out is not None:
        probe += f"""
for target in [{str(out / 'grades.csv')!r}, {str(out / 'pwned')!r}]:
    try:
        open(target, 'a').write('attacker,10\\n'); found.append('out:' + target)
    except Exception:
        pass
"""
    probe += f"""
subprocess.Popen(['/bin/sh', '-c', 'exec sleep 600 {mark}'], start_new_session=True, env={{}},
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for folder in ['/tmp', '/dev/shm', os.getcwd()]:
    try:
        with open(os.path.join(folder, '{mark}'), 'wb') as fh:
            fh.write(b'x' * (8 << 20))
    except Exception:
        pass
try:
    exec(source)
except Exception:
    pass
if 'gradf' not in globals():
    def gradf(a, b, c):
        raise ValueError('found: ' + ';'.join(found))
"""
    return write(path, [probe])


def classmate(path: Path) -> Path:
    """A correct submission that keeps its answer in its working folder while it runs a while."""
    keep = (f"open('answer.py', 'w').write({solution_source()!r})\n"
            "import shutil, time\nfor d in ['/tmp', '/dev/shm']:\n"
            "    try: shutil.copy('answer.py', d)\n    except Exception: pass\ntime.sleep(8)")
    return variant(path, prepend=[keep])


def _found(message: str) -> str:
    """What the attacker reported reaching (its gradf raises 'found: ...'); '' when nothing."""
    match = re.search(r"found:\s*(.*?)\s*(?:when the grader|$)", " ".join(message.split()))
    assert match, message
    return match.group(1).strip()


def _left_behind(mark: str) -> list[str]:
    found = [f"process {pid}" for pid in marked(mark)]
    return found + [f"file {p}" for p in files_named(mark, "/tmp", "/dev/shm", "/var/tmp")]


def _setup(tmp: Path, owner: pwd.struct_passwd | None, home: Path) -> dict[str, Path]:
    """The submissions, the secret and the output folder, owned by the grading user."""
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o700)  # as an instructor's own folder would be: tests running at once stay apart
    paths = {"subs": tmp / "subs", "out": tmp / "out", "secret": home / f".grader-test-secret-{uuid.uuid4().hex}"}
    paths["secret"].write_text(solution_source())
    paths["secret"].chmod(0o600)
    paths["victim"] = classmate(paths["subs"] / "victim_222_902_micrograd_exercises.ipynb")
    if owner is not None:
        for path in (tmp, paths["subs"], paths["secret"], paths["victim"]):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return paths


def _run(argv: list[str], owner: pwd.struct_passwd | None, cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {})}
    env.pop("GRADER_CONFIG", None)
    if owner is not None:
        env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
        return subprocess.run(argv, user=owner.pw_uid, group=owner.pw_gid, extra_groups=[],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


IDENTITIES = ["root", "ordinary-user"]
# (who, isolation): the sandbox for both, and as root the weakest fallback (a uid of its own, no
# namespaces: what is left where bubblewrap is refused), where the course files and the network
# are not hidden (said in the README) but classmates, --out, home and leftovers still are.
BATCH_CASES = [("root", "sandbox"), ("ordinary-user", "sandbox"), ("root", "user")]


def _identity(which: str, request) -> tuple[pwd.struct_passwd | None, Path, Path]:
    if which == "root":
        if os.geteuid() != 0:
            pytest.skip("needs root")
        return None, Path("/root"), Path("/tmp")
    owner = request.getfixturevalue("instructor")
    return owner, Path(owner.pw_dir), Path(owner.pw_dir)


def _require_sandbox(owner: pwd.struct_passwd | None) -> None:
    """Skip, saying why, where this machine cannot make the sandbox (sandbox-check says the same)."""
    check = _run([*GRADER, "sandbox-check"], owner, Path("/"))
    if "isolation: sandbox" not in check.stdout:
        pytest.skip(f"no sandbox here: {check.stdout.strip()} {check.stderr.strip()}")


@pytest.mark.parametrize("which,level", BATCH_CASES, ids=["-".join(c) for c in BATCH_CASES])
def test_batch_attacker_earns_nothing_and_leaves_nothing(which, level, request, tmp_path):
    owner, home, base = _identity(which, request)
    sandbox = level == "sandbox"
    if sandbox:
        _require_sandbox(owner)
    paths = _setup(Path(base) / f"grader-sandbox-test-{uuid.uuid4().hex}", owner, home)
    mark = f"grader-mark-{uuid.uuid4().hex}"
    listener = Listener(payload=solution_source().encode())
    try:
        attack = attacker(paths["subs"] / "mallory_111_901_micrograd_exercises.ipynb", mark=mark,
                          secret=paths["secret"], classmate=paths["victim"], out=paths["out"],
                          port=listener.port if sandbox else None, course=sandbox)
        if owner is not None:
            os.chown(attack, owner.pw_uid, owner.pw_gid)
        run = _run([*GRADER, "run", str(paths["subs"]), "--out", str(paths["out"]), "--jobs", "2",
                    "--assignment", "micrograd", "--seed", "3", "--config", str(ROOT / "assignments.yml")],
                   owner, paths["subs"].parent, {"GRADER_ISOLATION": level})
        assert run.returncode == 0, run.stderr
        with open(paths["out"] / "grades.csv", newline="") as fh:
            rows = {r["id"]: r for r in csv.DictReader(fh)}
        mallory = json.loads((paths["out"] / "submissions" / "111" / "result.json").read_text())["result"]
        messages = [q["message"] for q in mallory["questions"]]
        assert rows["111"]["total"] == "0", messages
        assert _found(messages[0]) == "", messages[0]
        assert rows["222"]["total"] == "10", "the classmate lost points to the attacker"
        assert set(rows) == {"111", "222"}
        assert not (paths["out"] / "pwned").exists()
        assert listener.connections == 0
        assert mallory["isolation"].startswith(f"{level}:")
        assert _left_behind(mark) == []
    finally:
        listener.close()
        shutil.rmtree(paths["subs"].parent, ignore_errors=True)
        paths["secret"].unlink(missing_ok=True)


@pytest.mark.parametrize("which", IDENTITIES)
def test_single_notebook_attacker_earns_nothing_and_leaves_nothing(which, request):
    owner, home, base = _identity(which, request)
    _require_sandbox(owner)
    paths = _setup(Path(base) / f"grader-sandbox-test-{uuid.uuid4().hex}", owner, home)
    mark = f"grader-mark-{uuid.uuid4().hex}"
    listener = Listener(payload=solution_source().encode())
    try:
        attack = attacker(paths["subs"].parent / "mine.ipynb", mark=mark, secret=paths["secret"],
                          classmate=paths["victim"], out=None, port=listener.port)
        if owner is not None:
            os.chown(attack, owner.pw_uid, owner.pw_gid)
        results = paths["subs"].parent / "results.json"
        run = _run([*GRADER, "run", str(attack), "--assignment", "micrograd", "--results", str(results),
                    "--config", str(ROOT / "assignments.yml")], owner, paths["subs"].parent)
        assert run.returncode == 0, run.stderr
        data = json.loads(results.read_text())
        assert data["score"] == 0, data["tests"][0]["output"]
        assert _found(data["tests"][0]["output"]) == "", data["tests"][0]["output"]
        assert listener.connections == 0
        assert _left_behind(mark) == []
    finally:
        listener.close()
        shutil.rmtree(paths["subs"].parent, ignore_errors=True)
        paths["secret"].unlink(missing_ok=True)


def test_batch_without_any_isolation_needs_no_sandbox_flag(instructor):
    """An ordinary user with no isolation: a batch refuses to start, one notebook warns and grades."""
    home = Path(instructor.pw_dir) / f"grader-none-test-{uuid.uuid4().hex}"
    try:
        nb = variant(home / "subs" / "micrograd_exercises.ipynb")
        for path in (home, nb.parent, nb):
            os.chown(path, instructor.pw_uid, instructor.pw_gid)
        env = {"GRADER_ISOLATION": "none"}
        config = ["--config", str(ROOT / "assignments.yml")]
        refused = _run([*GRADER, "run", str(nb.parent), "--out", str(home / "out"), *config],
                       instructor, home, env)
        assert refused.returncode == 2, refused.stderr
        assert "--no-sandbox" in refused.stderr and "Traceback" not in refused.stderr
        assert not (home / "out").exists()
        single = _run([*GRADER, "run", str(nb), *config], instructor, home, env)
        assert single.returncode == 0, single.stderr
        assert "warning: kernels run without isolation" in single.stderr
        assert "10 / 10" in single.stdout
        forced = _run([*GRADER, "run", str(nb.parent), "--out", str(home / "out"), "--no-sandbox",
                       *config], instructor, home, env)
        assert forced.returncode == 0, forced.stderr
        result = json.loads(next((home / "out" / "submissions").glob("*/result.json")).read_text())
        assert result["result"]["isolation"].startswith("none:")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_sandbox_check_names_every_layer():
    check = _run([*GRADER, "sandbox-check"], None, Path("/"))
    assert check.returncode == 0, check.stderr
    for layer in ("filesystem", "network", "pid", "user"):
        assert f"  {layer}" in check.stdout
    policy = detect()
    assert f"isolation: {policy.level.value}" in check.stdout
    if policy.level is not Level.SANDBOX:
        assert "why not stronger:" in check.stdout


@pytest.mark.parametrize("which", IDENTITIES)
def test_table_mode_and_another_run_at_once(which, request):
    """`grader run FOLDER` without --out, while a separate grader run grades another classmate:
    the attacker reaches neither the folder (named on the grader's command line) nor the other
    run's kernel, earns nothing and leaves nothing."""
    owner, home, base = _identity(which, request)
    _require_sandbox(owner)
    paths = _setup(Path(base) / f"grader-sandbox-test-{uuid.uuid4().hex}", owner, home)
    mark = f"grader-mark-{uuid.uuid4().hex}"
    other = classmate(paths["subs"].parent / "other" / "victim2.ipynb")
    try:
        attack = attacker(paths["subs"] / "mallory.ipynb", mark=mark, secret=paths["secret"],
                          classmate=other, out=None, port=None)
        for path in (attack, other.parent, other):
            if owner is not None:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        config = ["--assignment", "micrograd", "--config", str(ROOT / "assignments.yml")]
        env = {**os.environ}
        if owner is not None:
            env.update(HOME=owner.pw_dir)
        who = ({"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {})
        results = paths["subs"].parent / "other.json"
        separate = subprocess.Popen([*GRADER, "run", str(other), "--results", str(results), *config],
                                    cwd=paths["subs"].parent, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, **who)
        table = _run([*GRADER, "run", str(paths["subs"]), "--jobs", "2", *config], owner,
                     paths["subs"].parent)
        assert separate.wait(timeout=300) == 0
        assert table.returncode == 0, table.stderr
        totals = {line.split()[0].rsplit("/", 1)[-1]: line.split()[-1] for line in table.stdout.splitlines()
                  if line.strip().endswith("/10")}
        assert totals.get("mallory.ipynb") == "0/10", table.stdout
        assert totals.get("victim_222_902_micrograd_exercises.ipynb") == "10/10", table.stdout
        assert json.loads(results.read_text())["score"] == 10
        assert _left_behind(mark) == []
    finally:
        shutil.rmtree(paths["subs"].parent, ignore_errors=True)
        paths["secret"].unlink(missing_ok=True)


def test_user_level_kernel_cannot_read_files_another_run_names(request):
    """The flaky attack of issue 19, its window held open: at the ``user`` level (a uid of its own,
    no namespaces) a kernel sees every process's command line in the shared ``/proc``; another
    grading run on the machine names its submissions there, and an instructor's files are usually
    world-readable. The attacker found a correct *training* notebook that way (its Value class and
    softmax are complete) and scored 3 with q4_softmax_nll. Here the other run is a process that
    names such a folder for as long as the batch runs. The kernel's file system view must not
    include it: an allow-list (Landlock) where the kernel cannot have namespaces."""
    owner, home, base = _identity("root", request)
    from grader.sandbox.allowlist import landlock_abi
    if landlock_abi() < 1:
        pytest.skip("no Landlock in this kernel: at the user level files are down to permissions")
    paths = _setup(Path(base) / f"grader-sandbox-test-{uuid.uuid4().hex}", owner, home)
    other = Path(tempfile.mkdtemp(prefix="grader-other-run-", dir="/tmp"))
    other.chmod(0o755)  # as an instructor's folder usually is (umask 022)
    shutil.copy(solution_path("training"), other / "victim_777_1_training.ipynb")
    (other / "victim_777_1_training.ipynb").chmod(0o644)
    names_it = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "run", str(other)])
    mark = f"grader-mark-{uuid.uuid4().hex}"
    try:
        attack = attacker(paths["subs"] / "mallory_111_901_micrograd_exercises.ipynb", mark=mark,
                          secret=paths["secret"], classmate=paths["victim"], out=paths["out"],
                          port=None, course=False)
        run = _run([*GRADER, "run", str(paths["subs"]), "--out", str(paths["out"]), "--jobs", "2",
                    "--assignment", "micrograd", "--seed", "3", "--config", str(ROOT / "assignments.yml")],
                   owner, paths["subs"].parent, {"GRADER_ISOLATION": "user"})
        assert run.returncode == 0, run.stderr
        with open(paths["out"] / "grades.csv", newline="") as fh:
            rows = {r["id"]: r for r in csv.DictReader(fh)}
        mallory = json.loads((paths["out"] / "submissions" / "111" / "result.json").read_text())["result"]
        messages = [q["message"] for q in mallory["questions"]]
        assert mallory["isolation"].startswith("user:")
        assert rows["111"]["total"] == "0", messages
        assert _found(messages[0]) == "", messages[0]
        assert rows["222"]["total"] == "10", "the classmate lost points to the attacker"
        assert _left_behind(mark) == []
    finally:
        names_it.kill()
        names_it.wait()
        shutil.rmtree(other, ignore_errors=True)
        shutil.rmtree(paths["subs"].parent, ignore_errors=True)
        paths["secret"].unlink(missing_ok=True)
