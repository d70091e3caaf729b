"""Batch grading: a folder of mixed submissions in real kernels, resume, and a batch killed mid-way."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.cli import main
from grader.intake.ids import student_id
from conftest import marked
from notebooks import variant, write

QUESTIONS = ["q1_gradf", "q2_forward_diff", "q3_symmetric_diff", "q4_softmax_nll"]


def gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def record(out: Path, sid: str) -> dict:
    return json.loads((out / "submissions" / sid / "result.json").read_text())["result"]


@pytest.mark.parametrize("name, expected", [
    ("smith_12345_67890_micrograd_exercises.ipynb", "12345"),
    ("smith_LATE_12345_67890_micrograd_exercises-1.ipynb", "12345"),
    ("Jane Doe_4242_assignsubmission_file_", "4242"),
    ("alice.ipynb", "alice"),
    ("Bob O'Neil", "Bob_O_Neil"),
], ids=["canvas", "canvas-late", "moodle-folder", "plain-file", "unsafe-folder"])
def test_student_ids_from_lms_names(name, expected):
    assert student_id(name) == expected


@pytest.mark.slow
def test_mixed_batch_grades_everything_then_resumes(tmp_path, small_config, kernel_tmp, capsys,
                                                    monkeypatch):
    subs, out = tmp_path / "subs", tmp_path / "out"
    variant(subs / "smith_111_901_micrograd_exercises.ipynb")
    variant(subs / "jones_222_902_micrograd_exercises.ipynb",
            edit={"q1-gradf": ("1/c**2", "-1/c**2")})
    (subs / "garbage_333_903_micrograd_exercises.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    variant(subs / "hang" / "micrograd_exercises.ipynb", append=["while True:\n    pass"])
    variant(subs / "crash" / "micrograd_exercises.ipynb", append=["import os\nos._exit(1)"])
    write(subs / "empty" / "micrograd_exercises.ipynb", [("markdown", "nothing here")])
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    args = ["run", str(subs), "--out", str(out), "--config", str(small_config), "--jobs", "2",
            "--seed", "7"]

    assert main(args) == 0
    first = capsys.readouterr()
    rows = gradebook(out)
    assert [r["id"] for r in rows] == ["111", "222", "333", "crash", "empty", "hang"]
    by_id = {r["id"]: r for r in rows}
    assert list(rows[0]) == ["id", "file", *QUESTIONS, "total", "status", "overrides"]
    assert by_id["111"]["total"] == "10" and by_id["111"]["status"] == "graded"
    # dc wrong everywhere: 2 of 3 components, at the published point and at the hidden ones
    assert by_id["222"]["q1_gradf"] == "2" and by_id["222"]["total"] == "9"
    assert (by_id["333"]["total"], by_id["333"]["status"]) == ("0", "rejected")
    assert (by_id["hang"]["total"], by_id["hang"]["status"]) == ("10", "graded")
    crash = record(out, "crash")
    assert (by_id["crash"]["total"], by_id["crash"]["status"]) == ("10", "graded"), (
        crash["notes"], crash["cells"], crash.get("questions"))
    assert (by_id["empty"]["total"], by_id["empty"]["status"]) == ("0", "graded")
    assert by_id["hang"]["file"] == "hang/micrograd_exercises.ipynb"

    assert "not a notebook" in record(out, "333")["error"]
    assert [c["status"] for c in record(out, "hang")["cells"]][-1] == "timeout"
    assert any("killed the kernel" in n for n in record(out, "crash")["notes"])
    for row in rows:
        folder = out / "submissions" / row["id"]
        gradescope = json.loads((folder / "results.json").read_text())
        assert f"{gradescope['score']:g}" == row["total"]
        assert (folder / "feedback.md").read_text().startswith("# micrograd: ")
    assert "could not be graded" in first.out and "333" in first.out
    assert "q1_gradf" in first.out and "slowest" in first.out

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("submissions/*/*")}
    assert main(args) == 0
    again = capsys.readouterr()
    assert "6 of 6 submissions already graded" in again.err
    assert "graded 0 of 0" in again.err
    assert gradebook(out) == rows
    assert {p: p.stat().st_mtime_ns for p in out.glob("submissions/*/*")} == stamps
    assert marked(str(kernel_tmp)) == []


@pytest.mark.slow
def test_batch_killed_midway_finishes_on_rerun(tmp_path, small_config, kernel_tmp):
    subs, out = tmp_path / "subs", tmp_path / "out"
    ids = [f"{100 + i}" for i in range(8)]
    for i, sid in enumerate(ids):
        variant(subs / f"student{i}_{sid}_{900 + i}_micrograd_exercises.ipynb",
                prepend=[f"import time\ntime.sleep({0.5 + (i % 3) / 2})"])
    env = {**os.environ, "TMPDIR": str(kernel_tmp)}
    command = [sys.executable, "-m", "grader", "run", str(subs), "--out", str(out), "--config",
               str(small_config), "--jobs", "2", "--seed", "7"]

    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        while len(list(out.glob("submissions/*/result.json"))) < 2:
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p.parent.name for p in out.glob("submissions/*/result.json")}
    assert 2 <= len(finished) < len(ids)
    assert not (out / "grades.csv").exists()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} of {len(ids)} submissions already graded" in rerun.stderr
    rows = gradebook(out)
    assert [r["id"] for r in rows] == ids
    assert all((r["total"], r["status"]) == ("10", "graded") for r in rows)
    assert sorted(p.parent.name for p in out.glob("submissions/*/result.json")) == ids
    assert list(out.glob("submissions/*/.*.tmp")) == []
    # Kernels of the killed batch were reaped on the re-run (or died with their parent).
    assert marked(str(kernel_tmp)) == []
