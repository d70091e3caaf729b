"""Hostile files in a submissions folder: links out of it, undecodable names, zip bombs.

Batches run the real CLI in a subprocess (``grader run DIR --out OUT -j 1``), as an instructor
would, on a small folder that always holds at least one real notebook graded in a real kernel, and
check ``grades.csv`` row by row. Run as root (the default set-up) the links test is the attack of
issue 11: root must not read ``/etc/shadow`` through a student's link.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from grader.gradescope.autograder import run as run_autograder
from grader.intake.ids import discover
from grader.intake.submission import Unreadable, find_notebooks, read_capped
from notebooks import exercise_path, solution_path, write, write_small_config

LINK = "is a symbolic link; links are not followed"
RSS_LIMIT_MB = 500
# The grader runs as this wrapper's child: its peak RSS (and its kernels') is the wrapper's
# RUSAGE_CHILDREN, untouched by whatever else this pytest process ran before.
MEASURE = ("import resource, subprocess, sys\n"
           "code = subprocess.run(sys.argv[1:]).returncode\n"
           "print(f'peak-rss-kib {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
           "sys.exit(code)\n")


def small_config(folder: Path) -> Path:
    """The real micrograd assignment with small time limits, so that a hang costs seconds."""
    return write_small_config(folder)


class Batch:
    """One run of the real CLI: exit code, stderr, peak RSS, and what it wrote to ``out``."""

    def __init__(self, proc: subprocess.CompletedProcess[str], out: Path) -> None:
        self.code, self.stdout, self.stderr, self.out = proc.returncode, proc.stdout, proc.stderr, out
        self.peak_mb = int(proc.stderr.rsplit("peak-rss-kib ", 1)[1].split()[0]) / 1024

    @property
    def rows(self) -> dict[str, dict[str, str]]:
        with open(self.out / "grades.csv", newline="", encoding="utf-8") as fh:
            return {row["id"]: row for row in csv.DictReader(fh)}

    def result(self, sid: str) -> dict:
        return json.loads((self.out / "submissions" / sid / "result.json").read_text("utf-8"))

    def files(self) -> list[Path]:
        return [p for p in self.out.rglob("*") if p.is_file() and ".grader" not in p.parts]


@pytest.fixture
def batch(tmp_path: Path) -> Callable[[Path], Batch]:
    """batch(submissions) -> Batch: ``grader run`` with one job, a fixed seed, small limits."""
    config = small_config(tmp_path / "config")
    kernel_tmp = Path(tempfile.mkdtemp(prefix="grader-hostile-files-", dir="/tmp"))
    kernel_tmp.chmod(0o755)  # kernels run as an unprivileged user and must reach their folders
    env = {**os.environ, "TMPDIR": str(kernel_tmp)}

    def run(subs: Path) -> Batch:
        out = tmp_path / "out"
        command = [sys.executable, "-m", "grader", "run", str(subs), "--out", str(out), "--config",
                   str(config), "--assignment", "micrograd", "-j", "1", "--seed", "7"]
        proc = subprocess.run([sys.executable, "-c", MEASURE, *command], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        return Batch(proc, out)

    yield run
    for entry in os.listdir("/proc"):  # anything a kernel of this test left behind
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if entry.isdigit() and str(kernel_tmp).encode() in fh.read():
                    os.kill(int(entry), signal.SIGKILL)
        except OSError:
            continue
    shutil.rmtree(kernel_tmp, ignore_errors=True)


# --------------------------------------------------------------------------- links

def test_links_out_of_the_submissions_folder_are_not_followed(batch, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(solution_path(), subs / "alice.ipynb")
    (subs / "cheat.ipynb").symlink_to(solution_path())            # a correct answer elsewhere
    (subs / "carol").symlink_to(solution_path().parent, target_is_directory=True)
    (subs / "dave").mkdir()
    (subs / "dave" / "work").symlink_to(solution_path().parent, target_is_directory=True)
    shadow = Path("/etc/shadow")
    root_only = os.geteuid() == 0 and shadow.is_file()
    if root_only:
        (subs / "shadow.ipynb").symlink_to(shadow)
    (tmp_path / "named").symlink_to(subs, target_is_directory=True)  # the root may be a link

    run = batch(tmp_path / "named")

    assert run.code == 0, run.stderr
    rows = run.rows
    assert sorted(rows) == ["alice", "carol", "cheat", "dave"] + (["shadow"] if root_only else [])
    assert (rows["alice"]["total"], rows["alice"]["status"]) == ("10", "graded")
    refused = {"cheat": "cheat.ipynb", "carol": "carol", "dave": "dave/work",
               **({"shadow": "shadow.ipynb"} if root_only else {})}
    for sid, name in refused.items():
        assert (rows[sid]["file"], rows[sid]["total"], rows[sid]["status"]) == (name, "0", "rejected")
        assert run.result(sid)["result"]["error"] == f"{name} {LINK}"
        assert f"{name} {LINK}" in (run.out / "submissions" / sid / "feedback.md").read_text()
    if root_only:  # root read nothing through the link: no line of it is in anything written
        secret = [line for line in shadow.read_bytes().splitlines() if len(line) > 8]
        for path in run.files():
            data = path.read_bytes()
            assert not any(line in data for line in secret), path
        assert not any(line.decode(errors="replace") in run.stdout + run.stderr for line in secret)


def test_a_file_swapped_for_a_link_after_discovery_is_not_read(tmp_path):
    """Reading re-checks: every folder below the root, and the file, must still not be links."""
    subs, elsewhere = tmp_path / "subs", tmp_path / "elsewhere"
    write(subs / "frank" / "hw.ipynb", ["x = 1"])
    write(subs / "gina.ipynb", ["x = 1"])
    write(elsewhere / "hw.ipynb", ["secret = 'elsewhere'"])
    (tmp_path / "secret.ipynb").write_text("secret from outside the folder")
    sources = {s.id: s for s in discover([subs])[0]}
    assert b"x = 1" in sources["frank"].read() and b"x = 1" in sources["gina"].read()

    shutil.rmtree(subs / "frank")
    (subs / "frank").symlink_to(elsewhere, target_is_directory=True)
    (subs / "gina.ipynb").unlink()
    (subs / "gina.ipynb").symlink_to(tmp_path / "secret.ipynb")

    with pytest.raises(Unreadable, match=f"^frank {LINK}$"):
        sources["frank"].read()
    with pytest.raises(Unreadable, match=f"^gina.ipynb {LINK}$"):
        sources["gina"].read()
    (subs / "gina.ipynb").unlink()
    os.mkfifo(subs / "gina.ipynb")  # would block an ordinary open() for ever
    with pytest.raises(Unreadable, match="^gina.ipynb is not a regular file$"):
        sources["gina"].read()


def test_table_mode_leaves_linked_notebooks_out(tmp_path):
    write(tmp_path / "subs" / "a.ipynb", ["x = 1"])
    (tmp_path / "subs" / "b.ipynb").symlink_to(solution_path())
    (tmp_path / "subs" / "c").symlink_to(solution_path().parent, target_is_directory=True)
    refused: list[str] = []
    assert find_notebooks([tmp_path / "subs"], refused) == [tmp_path / "subs" / "a.ipynb"]
    assert refused == [f"{tmp_path}/subs/b.ipynb {LINK}", f"{tmp_path}/subs/c {LINK}"]


# --------------------------------------------------------------------------- names

def test_undecodable_file_names_get_rows_and_valid_utf8_output(batch, tmp_path):
    subs = os.fsencode(tmp_path / "subs") + b"/"
    os.makedirs(subs + b"J\xe9r\xf4me Dupont_777_assignsubmission_file_")
    shutil.copy(solution_path(), subs + b"\xff\xfe_bad.ipynb")
    shutil.copy(exercise_path(), subs + b"J\xe9r\xf4me Dupont_777_assignsubmission_file_/\xe9t\xe9.ipynb")
    with open(subs + b"new\nline\x1b[31m.ipynb", "wb") as fh:
        fh.write(b"\x89PNG not a notebook")

    first = batch(tmp_path / "subs")

    assert first.code == 0, first.stderr
    rows = first.rows
    assert {sid: (r["file"], r["total"], r["status"]) for sid, r in rows.items()} == {
        "bad": ("\\xff\\xfe_bad.ipynb", "10", "graded"),
        "777": ("J\\xe9r\\xf4me Dupont_777_assignsubmission_file_/\\xe9t\\xe9.ipynb", "0", "graded"),
        "new_line_31m": ("new\\nline\\x1b[31m.ipynb", "0", "rejected"),
    }
    assert "not a notebook" in first.result("new_line_31m")["result"]["error"]
    for path in first.files():
        text = path.read_bytes().decode("utf-8")  # strict: every file is valid UTF-8
        if path.suffix == ".json":
            json.loads(text)
    for sid, row in rows.items():
        assert first.result(sid)["file"] == row["file"]
    assert "\x1b" not in first.stdout + first.stderr  # a name cannot drive the terminal

    again = batch(tmp_path / "subs")  # the re-run used to crash the same way
    assert again.code == 0, again.stderr
    assert "3 of 3 submissions already graded" in again.stderr
    assert again.rows == rows


# --------------------------------------------------------------------------- sizes

def test_zip_bomb_member_is_refused_before_it_is_inflated(batch, tmp_path):
    archive = tmp_path / "subs.zip"
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(solution_path(), "smith_111_901_micrograd_exercises.ipynb")
        with zf.open("bomb_999_902_micrograd_exercises.ipynb", "w", force_zip64=True) as member:
            for _ in range(64):  # 1 GiB of zeros, a few MB zipped
                member.write(chunk)
    assert archive.stat().st_size < 10 * 2**20

    run = batch(archive)

    assert run.code == 0, run.stderr
    assert run.peak_mb < RSS_LIMIT_MB, f"the grader peaked at {run.peak_mb:.0f} MB"
    rows = run.rows
    assert (rows["111"]["total"], rows["111"]["status"]) == ("10", "graded")
    assert (rows["999"]["total"], rows["999"]["status"]) == ("0", "rejected")
    assert run.result("999")["result"]["error"] == (
        "subs.zip:bomb_999_902_micrograd_exercises.ipynb is too large (1024 MiB; the limit is "
        "64 MiB): a notebook should be far smaller, clear its outputs and submit again")


def test_reads_are_capped_by_declared_and_actual_size(tmp_path):
    write(tmp_path / "subs" / "big.ipynb", ["x = 1"] * 200)
    with zipfile.ZipFile(tmp_path / "subs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "subs" / "big.ipynb", "big.ipynb")
    size = (tmp_path / "subs" / "big.ipynb").stat().st_size
    (plain,), _ = discover([tmp_path / "subs"])
    (member,), _ = discover([tmp_path / "subs.zip"])
    for source in (plain, member):
        assert len(source.read(limit=size)) == size
        with pytest.raises(Unreadable, match="too large .* the limit is"):
            source.read(limit=size - 1)
    # A stream longer than it said (a lying zip header, a growing file): cut at limit + 1 bytes.
    stream = io.BytesIO(bytes(10_000))
    with pytest.raises(Unreadable, match="^x.ipynb is too large \\(more than"):
        read_capped(stream, "x.ipynb", limit=1000)
    assert stream.tell() == 1001


def test_gradescope_upload_over_the_cap_is_refused_unread(tmp_path):
    """Not a regression test of a hole (a size check was there): the upload goes through the cap."""
    root = tmp_path / "autograder"
    small_config(root / "source")
    (root / "submission").mkdir(parents=True)
    with open(root / "submission" / "micrograd_exercises.ipynb", "wb") as fh:
        fh.truncate(300 * 2**20)  # sparse: costs no disk
    data = run_autograder(root, log=io.StringIO())
    assert data["score"] == 0
    assert ("`micrograd_exercises.ipynb` is too large (300 MiB; the limit is 64 MiB)"
            in data["tests"][0]["output"])
