"""The grader package is hidden from kernels, wherever it is installed (issue 19, §8).

Kernels need Python and the packages students import, never the grader: its probe runner is sent
into the kernel as text. A notebook tries every way to read the grader -- ``import grader``, its
distribution's metadata (RECORD, METADATA, entry points), the package folder and the ``.pth`` and
finder of an editable install in site-packages, the ``grader`` script, any ``assignments.yml`` --
with this checkout's editable install (the ``.venv``) and with the wheel installed into a fresh
virtual environment outside the checkout, in the sandbox (as root and as an ordinary user) and at
the ``namespaces`` level, and at the ``user`` level where Landlock is had. It must find nothing.
(At the ``none`` level, and at ``user`` without Landlock, nothing is hidden: the README says so.)
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from notebooks import ROOT, write, write_small_config

pytestmark = pytest.mark.slow


def snoop(path: Path, site: str, prefix: str, package: str) -> Path:
    """A notebook whose ``gradf`` raises 'found: ...' listing every piece of the grader it read."""
    code = f"""
import glob, importlib, importlib.metadata, os, sys
found = []
def readable(p):  # a file's content, or any content in a folder (names alone are not the source)
    try:
        if os.path.isdir(p):
            return any(readable(os.path.join(p, n)) for n in os.listdir(p))
        with open(p, 'rb') as fh:
            return bool(fh.read(1))
    except Exception:
        return False
try:
    import grader  # an empty folder named grader imports as an empty namespace package
    if getattr(grader, '__file__', None) or any(readable(p) for p in getattr(grader, '__path__', [])):
        found.append('import grader')
except Exception:
    pass
try:
    importlib.import_module('grader.cli')
    found.append('import grader.cli')
except Exception:
    pass
try:
    d = importlib.metadata.distribution('micrograd-autograder')
    for what in ('RECORD', 'METADATA', 'entry_points.txt', 'direct_url.json'):
        if d.read_text(what):
            found.append('metadata ' + what)
    if d.files:
        found.append('metadata files')
except Exception:
    pass
try:
    if any(ep.value.startswith('grader') for ep in importlib.metadata.entry_points(group='console_scripts')):
        found.append('entry point')
except Exception:
    pass
sites = set([{site!r}] + [p for p in sys.path if p.endswith('site-packages')])
for sp in sites:
    for pattern in ('grader', 'grader/*.py', 'micrograd_autograder*', '__editable__*', '*.pth',
                    '__pycache__/__editable__*'):
        for p in glob.glob(os.path.join(sp, pattern)):
            if p.endswith('.pth') and not ('grader' in os.path.basename(p) or 'micrograd' in os.path.basename(p)):
                try:
                    if 'grader' not in open(p).read() and 'micrograd' not in open(p).read():
                        continue
                except Exception:
                    continue
            if readable(p):
                found.append('site-packages ' + os.path.basename(p))
for p in [os.path.join({package!r}, 'cli', '__init__.py'), os.path.join({package!r}, 'assignments.yml'),
          os.path.join({prefix!r}, 'bin', 'grader'), os.path.join(sys.prefix, 'bin', 'grader')]:
    if readable(p):
        found.append('file ' + p)
for p in glob.glob(os.path.join({prefix!r}, '**', 'assignments.yml'), recursive=True) + \\
        glob.glob(os.path.join({package!r}, '**', '*.yml'), recursive=True):
    if readable(p):
        found.append('config ' + p)
def gradf(a, b, c):
    raise ValueError('found: ' + ';'.join(found) + ' :end')
"""
    return write(path, [code])


def _found(stdout: str) -> str:
    match = re.search(r"found:(.*?):end", " ".join(stdout.split()))
    assert match, stdout
    return match.group(1).strip()


def _grade(python: str, notebook: Path, level: str, owner: pwd.struct_passwd | None, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_CONFIG", "PYTHONPATH")}
    env.update(GRADER_ISOLATION=level, COLUMNS="400")
    who = {}
    if owner is not None:
        env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
        who = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    config = write_small_config(cwd / "config")
    if owner is not None:
        for p in (cwd, config.parent, config, notebook):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    proc = subprocess.run([python, "-m", "grader", "run", str(notebook), "--config", str(config),
                           "--assignment", "micrograd"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, **who)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout
    assert f"isolation: {level}:" in " ".join(summary.split()) or level == "sandbox", summary
    return _found(summary)


def _level_available(python: str, level: str, owner: pwd.struct_passwd | None) -> None:
    who = ({"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {})
    env = {**os.environ, "GRADER_ISOLATION": level}
    if owner is not None:
        env.update(HOME=owner.pw_dir)
    check = subprocess.run([python, "-m", "grader", "sandbox-check"], capture_output=True, text=True,
                           cwd="/", env=env, timeout=120, **who)
    if f"isolation: {level}" not in check.stdout:
        pytest.skip(f"no {level} level here: {check.stdout.strip()} {check.stderr.strip()}")


CASES = [("root", "sandbox"), ("ordinary-user", "sandbox"), ("root", "namespaces"), ("root", "user")]


@pytest.mark.parametrize("which,level", CASES, ids=["-".join(c) for c in CASES])
def test_the_editable_install_is_hidden_from_kernels(which, level, request):
    owner = request.getfixturevalue("instructor") if which == "ordinary-user" else None
    if owner is None and os.geteuid() != 0:
        pytest.skip("needs root")
    _level_available(sys.executable, level, owner)
    if level == "user":
        from grader.sandbox.allowlist import landlock_abi
        if landlock_abi() < 1:
            pytest.skip("no Landlock here: at the user level nothing is hidden (the README says so)")
    base = Path(tempfile.mkdtemp(prefix="grader-hidden-", dir=owner.pw_dir if owner else None))
    try:
        notebook = snoop(base / "snoop.ipynb", sysconfig.get_paths()["purelib"], sys.prefix,
                         str(ROOT / "grader"))
        assert _grade(sys.executable, notebook, level, owner, base) == ""
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment outside the checkout holding this checkout's wheel, installed
    by pip, beside hard-linked copies of the .venv's other packages (fast: nothing downloaded)."""
    from test_selfcheck import _wheel

    wheel = _wheel(tmp_path_factory.mktemp("wheel"))
    base = Path(tempfile.mkdtemp(prefix="grader-wheel-venv-", dir="/tmp"))
    base.chmod(0o755)  # kernels run as an unprivileged uid and must reach this Python
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    for name in os.listdir(ours):
        if "micrograd_autograder" in name or name == "__pycache__":
            continue
        src, dst = os.path.join(ours, name), os.path.join(site, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, copy_function=os.link, symlinks=True)
        else:
            os.link(src, dst)
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet",
                    "--no-compile", str(wheel)], check=True, capture_output=True, timeout=300)
    yield venv
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("level", ["sandbox", "namespaces", "user"])
def test_a_wheel_installed_in_a_fresh_venv_is_hidden_from_kernels(level, wheel_venv):
    if os.geteuid() != 0:
        pytest.skip("needs root (the namespaces level is root's; the sandbox case runs as root)")
    python = str(wheel_venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import grader, sysconfig; print(grader.__path__[0]); "
                            "print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True,
                           check=True, cwd="/").stdout.split()
    assert where[0].startswith(str(wheel_venv)), where  # the wheel's copy runs, not the checkout's
    _level_available(python, level, None)
    if level == "user":
        from grader.sandbox.allowlist import landlock_abi
        if landlock_abi() < 1:
            pytest.skip("no Landlock here: at the user level nothing is hidden (the README says so)")
    base = Path(tempfile.mkdtemp(prefix="grader-hidden-wheel-"))
    try:
        notebook = snoop(base / "snoop.ipynb", where[1], str(wheel_venv), where[0])
        assert _grade(python, notebook, level, None, base) == ""
    finally:
        shutil.rmtree(base, ignore_errors=True)
