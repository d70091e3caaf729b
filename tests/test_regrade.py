"""An instructor's week: regrades keep every row, overrides stick, nothing is dropped silently,
grades go to Canvas or a roster, and every bad argument is one line and exit 2 (issue 15, 3 and 4)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

import pytest

from grader.cli import demo_paths, main
from grader.intake.ids import NOT_A_NOTEBOOK, discover
from grader.report.progress import Progress
from notebooks import ROOT, variant, write
from test_batch import gradebook

GRADEBOOK = Path(__file__).parent / "data" / "canvas_gradebook_export.csv"


def cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``grader`` in this process: exit code, stdout, stderr (argparse's exits included)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ------------------------------------------------------------------ nothing dropped silently

def test_every_file_in_a_submissions_folder_gets_a_row(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "smith_101_901_micrograd_exercises.ipynb", ["x = 1"])
    (subs / "smith_101_905_scratch.pdf").write_bytes(b"%PDF-1.4")   # beside a notebook: a note
    (subs / "carter_103_903_notes.txt").write_text("I ran out of time")
    (subs / "solution.py").write_text("def gradf(a, b, c): ...")
    (subs / "dan").mkdir()
    (subs / "dan" / "answers.md").write_text("see attached")
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as zf:
        zf.writestr("eve_105_905_micrograd_exercises.ipynb", "{}")
        zf.writestr("../evil_106_906_micrograd_exercises.ipynb", "{}")

    sources, warnings = discover([subs, tmp_path / "class.zip"])
    by_id = {s.id: s for s in sources}
    # every file not graded has a row of its own (issue 19): the PDF beside 101's notebook, the
    # member whose path leaves the archive (never read)
    assert sorted(by_id) == ["101", "101~2", "103", "105", "106", "dan", "solution"]
    assert by_id["101~2"].missing == f"smith_101_905_scratch.pdf {NOT_A_NOTEBOOK}"
    assert by_id["106"].missing == ("class.zip:../evil_106_906_micrograd_exercises.ipynb has a path "
                                    "outside the archive's folder (../ or absolute): not read")
    assert by_id["101"].missing is None
    assert "is not a notebook (.ipynb)" in by_id["103"].missing
    assert "carter_103_903_notes.txt" in by_id["103"].missing
    assert "is not a notebook" in by_id["solution"].missing
    assert "no .ipynb notebook in the submission (found: answers.md)" in by_id["dan"].missing
    assert any("101" in w and "smith_101_905_scratch.pdf" in w for w in warnings)


def test_unreadable_and_non_notebook_files_get_rows_and_the_summary_lists_them(tmp_path,
                                                                               small_config):
    """No kernel is needed: a damaged zip member and a text file are rows with a reason."""
    good = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("smith_101_901_micrograd_exercises.ipynb", good * 50)
        zf.writestr("carter_103_903_notes.txt", "I ran out of time")
    data = bytearray(archive.read_bytes())
    start = data.index(b"smith_101_901_micrograd_exercises.ipynb") + 60
    data[start:start + 40] = b"\x00" * 40   # corrupt the member's compressed bytes
    archive.write_bytes(bytes(data))
    out = tmp_path / "out"

    code, stdout, _ = cli(["run", str(archive), "--out", str(out), "--config", str(small_config)])

    assert code == 0
    rows = {r["id"]: r for r in gradebook(out)}
    assert {sid: r["status"] for sid, r in rows.items()} == {"101": "rejected", "103": "rejected"}
    assert "could not be read" in json.loads((out / "submissions/101/result.json").read_text())["result"]["error"]
    assert "not a notebook" in json.loads((out / "submissions/103/result.json").read_text())["result"]["error"]
    assert "could not be graded" in stdout and "101" in stdout and "103" in stdout


# ------------------------------------------------------------------ regrades, overrides, exports

@pytest.mark.slow
def test_regrade_override_and_export(tmp_path, small_config, kernel_tmp, monkeypatch):
    subs, out = tmp_path / "subs", tmp_path / "out"
    variant(subs / "smith_101_901_micrograd_exercises.ipynb")
    bob = variant(subs / "brown_102_902_micrograd_exercises.ipynb",
                  edit={"q1-gradf": ("1/c**2", "-1/c**2")})
    (subs / "carter_103_903_notes.txt").write_text("I ran out of time")
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    config = ["--config", str(small_config), "--seed", "7", "--jobs", "2"]

    code, stdout, _ = cli(["run", str(subs), "--out", str(out), *config])
    assert code == 0
    first = {r["id"]: r for r in gradebook(out)}
    assert list(first) == ["101", "102", "103"]
    assert (first["102"]["q1_gradf"], first["102"]["total"]) == ("2", "9")  # dc wrong: 2 of 3 components
    assert (first["103"]["status"], first["103"]["total"]) == ("rejected", "0")
    assert "carter_103_903_notes.txt is not a notebook" in stdout

    # An override: grades.csv, feedback.md and results.json show it, with the grader's score.
    code, stdout, _ = cli(["override", str(out), "102", "q1_gradf", "3", "--reason", "sign slip only"])
    assert code == 0, stdout
    row = {r["id"]: r for r in gradebook(out)}["102"]
    assert (row["q1_gradf"], row["total"]) == ("3", "10")
    assert row["overrides"] == "q1_gradf 3 (grader 2): sign slip only"
    feedback = (out / "submissions/102/feedback.md").read_text()
    assert "**Score: 10 / 10**" in feedback and ("## q1_gradf: Analytic gradient of f (3 / 3, set by "
                                                 "the instructor)") in feedback
    assert "- **Your score 3 of 3 (set by the instructor: sign slip only); the grader gave 2**" in feedback
    assert "/ 0)" not in feedback  # no part worth nothing
    gradescope = json.loads((out / "submissions/102/results.json").read_text())
    assert gradescope["score"] == 10 and min(t["max_score"] for t in gradescope["tests"]) > 0
    q1 = [t for t in gradescope["tests"] if t["name"].startswith("q1_gradf")]
    assert [(t["score"], t["max_score"]) for t in q1] == [(3, 3)] and "sign slip only" in q1[0]["output"]
    assert json.loads((out / "submissions/102/result.json").read_text())["result"]["score"] == 9

    # Regrading one student (the file itself, --force) keeps every row and the override.
    untouched = (out / "submissions/101/result.json").stat().st_mtime_ns
    code, _, _ = cli(["run", str(bob), "--out", str(out), "--force", *config])
    assert code == 0
    rows = {r["id"]: r for r in gradebook(out)}
    assert list(rows) == ["101", "102", "103"]
    assert rows["101"] == first["101"] and rows["103"] == first["103"]
    assert (rows["102"]["q1_gradf"], rows["102"]["total"]) == ("3", "10")
    assert (out / "submissions/101/result.json").stat().st_mtime_ns == untouched

    # --only, --force: that student alone is regraded; an override on a rejected file sticks too.
    assert cli(["override", str(out), "103", "q4_softmax_nll", "1", "--reason", "emailed late"])[0] == 0
    code, _, _ = cli(["run", str(subs), "--out", str(out), "--force", "--only", "101", *config])
    assert code == 0
    assert (out / "submissions/101/result.json").stat().st_mtime_ns != untouched
    rows = {r["id"]: r for r in gradebook(out)}
    assert [(rows[i]["total"], rows[i]["status"]) for i in rows] == [
        ("10", "graded"), ("10", "graded"), ("1", "rejected")]

    # Canvas: the assignment column filled by Canvas user id; header rows kept; others blank.
    target = tmp_path / "import.csv"
    code, stdout, _ = cli(["export", "canvas", str(out), "--gradebook", str(GRADEBOOK),
                           "--column", "HW1 micrograd", "-o", str(target)])
    assert code == 0
    with target.open(newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW1 micrograd (12345)"]
    assert lines[1] == ["    Points Possible", "", "", "", "", "10.00"]
    assert lines[2] == ["", "", "", "", "", "Manual Posting"]
    assert {line[1]: line[5] for line in lines[3:]} == {
        "101": "10", "102": "10", "103": "1", "104": "", "9001": ""}
    assert [line[0] for line in lines[3:]] == ["Smith, Alice", "Brown, Bob", "Carter, Carol",
                                               "Diaz, Dan", "Student, Test"]
    assert "2 no submission (left blank): Diaz, Dan (104); Student, Test (9001)" in stdout

    # Any other LMS: a roster joined by id.
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\n101,Alice Smith,alice@uni.edu\n104,Dan Diaz,dan@uni.edu\n")
    code, stdout, stderr = cli(["export", "roster", str(out), "--roster", str(roster), "-o",
                                str(tmp_path / "named.csv")])
    assert code == 0
    with (tmp_path / "named.csv").open(newline="", encoding="utf-8") as fh:
        named = list(csv.DictReader(fh))
    assert [(r["id"], r["name"], r["email"], r["total"], r["status"]) for r in named] == [
        ("101", "Alice Smith", "alice@uni.edu", "10", "graded"),
        ("104", "Dan Diaz", "dan@uni.edu", "", "no submission")]
    assert ("WARNING: 2 graded students not in the roster, so their scores are NOT in "
            f"{tmp_path / 'named.csv'}: 102; 103") in stderr

    # A list that matches no graded student at all is an error, and nothing is written.
    stranger = tmp_path / "other_class.csv"
    stranger.write_text("id,name\n555,Someone Else\n")
    code, _, stderr = cli(["export", "roster", str(out), "--roster", str(stranger), "-o",
                           str(tmp_path / "none.csv")])
    assert code == 2 and "none of the 3 graded students" in stderr and "Nothing was written" in stderr
    assert not (tmp_path / "none.csv").exists()


# ------------------------------------------------------------------ a CLI that fails clearly

BAD = {
    "results-under-proc": (["run", "{nb}", "--results", "/proc/self/results.json"], "under /proc"),
    "results-missing-folder": (["run", "{nb}", "--results", "nowhere/r.json"], "does not exist"),
    "results-is-a-folder": (["run", "{nb}", "--results", "subs"], "is a folder"),
    "force-without-out": (["run", "{nb}", "--force"], "--force works on a class"),
    "only-without-out": (["run", "subs", "--only", "101"], "add --out"),
    "empty-folder": (["run", "empty"], "no notebooks in empty"),
    "empty-folder-out": (["run", "empty", "--out", "graded"], "no notebooks in empty"),
    "zip-without-out": (["run", "class.zip"], "grader run class.zip --out FOLDER"),
    "out-under-proc": (["run", "subs", "--out", "/proc/graded"], "under /proc"),
    "out-inside-submissions": (["run", "subs", "--out", "subs/graded"], "inside the submissions"),
    "out-is-a-file": (["run", "subs", "--out", "{nb}"], "is a file"),
    "only-unknown-id": (["run", "subs", "--out", "graded", "--only", "999"], "no submission with id 999"),
    "jobs-zero": (["run", "{nb}", "--jobs", "0"], "--jobs must be at least 1"),
    "no-such-path": (["run", "missing.ipynb"], "no such file"),
    "unknown-assignment": (["run", "--assignment", "nope"], "no assignment 'nope'"),
    "seed-not-a-number": (["run", "{nb}", "--seed", "x"], "invalid int value"),
    "unknown-command": (["grade", "{nb}"], "invalid choice"),
    "override-not-an-out": (["override", "subs", "101", "q1_gradf", "1", "--reason", "r"],
                            "not a grader output folder"),
    "override-no-reason": (["override", "subs", "101", "q1_gradf", "1"], "--reason is required"),
    "export-no-column": (["export", "canvas", "subs", "--gradebook", "g.csv", "-o", "i.csv"],
                         "--column"),
    "export-not-an-out": (["export", "canvas", "subs", "--gradebook", "g.csv", "--column", "HW1",
                           "-o", "i.csv"], "not a grader output folder"),
}


@pytest.mark.parametrize("args, message", BAD.values(), ids=BAD.keys())
def test_bad_argument_is_one_line_exit_2_and_creates_nothing(tmp_path, monkeypatch, small_config,
                                                             args, message):
    write(tmp_path / "subs" / "smith_101_901_micrograd_exercises.ipynb", ["x = 1"])
    (tmp_path / "empty").mkdir()
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as zf:
        zf.writestr("smith_101_901_micrograd_exercises.ipynb", "{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRADER_CONFIG", str(small_config))
    before = tree(tmp_path)
    nb = "subs/smith_101_901_micrograd_exercises.ipynb"

    code, stdout, stderr = cli([a.replace("{nb}", nb) for a in args])

    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr + stdout
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("grader")
    assert tree(tmp_path) == before


HELP = [["--help"], ["run", "--help"], ["override", "--help"], ["export", "--help"],
        ["export", "canvas", "--help"], ["export", "roster", "--help"], ["sandbox-check", "--help"],
        ["check-config", "--help"], ["build", "--help"], ["build", "gradescope", "--help"]]


@pytest.mark.parametrize("args", HELP, ids=[" ".join(a[:-1]) or "grader" for a in HELP])
def test_help_says_what_it_does_with_an_example_and_the_exit_codes(args):
    code, stdout, _ = cli(args)
    assert code == 0
    assert "example" in stdout and "exit codes:" in stdout and "  2 " in stdout
    assert "Command line: parse arguments" not in stdout   # not the module docstring


def test_assignment_without_a_path_grades_only_its_examples():
    from grader.config import load_config

    config = load_config(ROOT / "assignments.yml")
    engine = demo_paths(config, "engine")
    assert engine and all("micrograd" not in p.name for p in engine)
    micrograd = demo_paths(config, "micrograd")
    assert all("micrograd" in str(p) for p in micrograd)
    assert set(demo_paths(config)) >= set(engine) | set(micrograd)


def test_eta_counts_down_between_completions_and_holds_when_overdue():
    class Result:
        status, error, score, max_score, execution_time = "graded", None, 1.0, 1.0, 1.0

    now = [0.0]
    progress = Progress(io.StringIO(), 4, live=False, clock=lambda: now[0])
    assert progress.eta() is None
    now[0] = 10.0
    progress.finish_one("a", Result())           # 10 s per submission, 3 left
    assert progress.eta() == pytest.approx(30.0)
    now[0] = 15.0
    assert progress.eta() == pytest.approx(25.0)  # moves with the clock, not only on completions
    now[0] = 40.0
    assert progress.eta() == pytest.approx(20.0)  # overdue: the two after the one in flight
    progress.finish_one("b", Result())
    assert progress.eta() == pytest.approx(40.0)  # now 20 s each, 2 left
    assert "ETA 0:00:40" in progress.status()
