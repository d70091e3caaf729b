"""Issue 15 §2: a student with only ``pip install`` and their notebook can grade it: the assignment is
told from the notebook itself, the config comes with the package, output wraps rather than cuts."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from corpus.original import SUBMISSIONS, cells
from grader.cli import choose_assignment
from grader.errors import UsageError
from grader.intake.recognise import candidates, stamped
from grader.report.table import result_table
from grader.results import PartResult, QuestionResult, SubmissionResult
from notebooks import exercise_path, solution_path, write

ASSIGNMENTS = ("micrograd", "engine", "mlp", "training")
ODD_NAMES = ("my_notebook.ipynb", "Untitled (3).ipynb", "Copy of homework-final.ipynb")


def _original(path: Path) -> Path:
    return write(path, cells(*SUBMISSIONS["textbook"][:5]))


def _strip_metadata(src: Path, dest: Path) -> Path:
    """As a notebook tool that keeps no metadata of its own would save it."""
    nb = json.loads(src.read_text())
    nb["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    dest.write_text(json.dumps(nb))
    return dest


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_and_solutions_carry_their_assignment_id(assignment):
    for path in (exercise_path(assignment), solution_path(assignment)):
        assert stamped(json.loads(path.read_text())) == assignment


@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize("source", [*(f"exercise:{a}" for a in ASSIGNMENTS),
                                    *(f"solution:{a}" for a in ASSIGNMENTS),
                                    *(f"unstamped:{a}" for a in ASSIGNMENTS), "original", "original-untouched"])
def test_any_file_name_is_recognised(config, tmp_path, source, name):
    kind, _, assignment = source.partition(":")
    path = tmp_path / "nowhere" / name
    path.parent.mkdir()
    if kind == "original":
        _original(path)
        assignment = "micrograd"
    elif kind == "original-untouched":
        write(path, cells(*SUBMISSIONS["untouched"][:5]))
        assignment = "micrograd"
    elif kind == "unstamped":
        _strip_metadata(exercise_path(assignment), path)
    else:
        shutil.copy((exercise_path if kind == "exercise" else solution_path)(assignment), path)
    assert [a.id for a in candidates(config, path)] == [assignment]
    assert choose_assignment(config, path, None).id == assignment


def test_truly_ambiguous_notebook_lists_the_choices(config, tmp_path):
    path = write(tmp_path / "scratch.ipynb", ["x = 1"])
    with pytest.raises(UsageError, match=r"could be micrograd \(.*\), engine .*pass --assignment"):
        choose_assignment(config, path, None)


def test_the_stamp_wins_over_the_file_name(config, tmp_path):
    path = tmp_path / "engine.ipynb"
    shutil.copy(solution_path("mlp"), path)
    assert choose_assignment(config, path, None).id == "mlp"


def test_plain_table_wraps_long_messages_and_never_cuts_them():
    long = "word " * 200 + "THE-END"
    result = SubmissionResult("engine", "a.ipynb", (QuestionResult("q1", "t", 1.0, (
        PartResult("graphs", 0.0, 1.0, long),)),), 0.1, "0", notes=("note " * 80 + "NOTE-END",),
        isolation="sandbox: " + "layer, " * 40 + "LAST")
    text = result_table(result)  # not a terminal here: plain text
    assert "THE-END" in text and "NOTE-END" in text and "LAST" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 160


def _wheel(tmp_path: Path) -> Path:
    """This checkout's wheel, built as pip builds it for `pip install`."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "grader", src / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--wheel-dir", str(out), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.slow
def test_student_grades_their_notebook_from_an_empty_folder_with_the_installed_package(tmp_path):
    wheel = _wheel(tmp_path)
    assert wheel.name.startswith("micrograd_autograder-")
    with zipfile.ZipFile(wheel) as zf:
        assert "grader/assignments.yml" in zf.namelist()
    site = tmp_path / "site"  # the package as pip installs it: no course checkout around it
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    home = tmp_path / "student"
    home.mkdir()
    _original(home / "my_notebook.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_CONFIG", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", "import sys, grader, grader.cli; "
                           "print(grader.__file__); sys.exit(grader.cli.main(['run', 'my_notebook.ipynb']))"],
                          cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(site))  # the installed copy ran
    assert "my_notebook.ipynb" in proc.stdout and "10 / 10" in proc.stdout
    for qid in ("q1_gradf", "q2_forward_diff", "q3_symmetric_diff", "q4_softmax_nll"):
        assert qid in proc.stdout
    assert sorted(p.name for p in home.iterdir()) == ["my_notebook.ipynb"]  # nothing left behind


def test_a_class_folder_with_any_file_names_is_recognised(config, tmp_path):
    """A batch of notebooks named anyhow, with several assignments in the config: the notebooks'
    own content (stamp, names, headings) says which assignment; mixed folders still ask."""
    from grader.grading.jobs import folder_jobs

    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice.ipynb", "Bob final (2).ipynb"):
        shutil.copy(solution_path(), subs / name)
    original = json.loads(exercise_path().read_text())
    original["metadata"].pop("grader", None)  # no stamp: recognised by the names it defines
    (subs / "carol.ipynb").write_text(json.dumps(original))
    jobs, _ = folder_jobs(config, [subs], None)
    assert {job.assignment.id for job in jobs} == {"micrograd"} and len(jobs) == 3
    shutil.copy(solution_path("engine"), subs / "dave.ipynb")
    with pytest.raises(UsageError, match="cannot tell which assignment"):
        folder_jobs(config, [subs], None)


# ------------------------------------------------------------------ every command from the wheel

@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """`grader build wheel` of this checkout, installed with pip into a fresh venv outside the repo
    (its dependencies from the package index): the `grader` a student or a TA without the
    checkout has. Built and installed once per session."""
    built = tmp_path_factory.mktemp("built")
    proc = subprocess.run([sys.executable, "-m", "grader", "build", "wheel", "-o", str(built)],
                          capture_output=True, text=True, timeout=600, cwd=built)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = built.glob("*.whl")
    assert f"pip install ./{wheel.name}" in [line.strip() for line in proc.stdout.splitlines()]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "grader/assignments.yml" in names and "grader/exercises/micrograd_exercises.ipynb" in names
    assert not any("solutions" in n for n in names)  # students install it
    # Kernels run as other uids: the venv must be reachable by them (pytest's own folder is not).
    home = Path(tempfile.mkdtemp(prefix="grader-wheel-test-", dir="/tmp"))
    os.chmod(home, 0o755)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield venv / "bin" / "grader"
    shutil.rmtree(home, ignore_errors=True)


def _grader(exe: Path, *args: str, cwd: Path, code: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_CONFIG", "PYTHONPATH")}
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == code, f"grader {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_every_command_works_from_the_installed_wheel(installed, tmp_path):
    work = tmp_path / "course"
    shutil.copytree(ROOT / "examples" / "sample_class", work)
    site = str(installed.parent.parent)
    out = _grader(installed, "check-config", cwd=work)
    assert out.startswith(site) and "q1_gradf" in out  # the config that came with the package
    assert "isolation:" in _grader(installed, "sandbox-check", cwd=work)
    shutil.copy(solution_path(), work / "Copy of hw (2).ipynb")
    out = _grader(installed, "run", "Copy of hw (2).ipynb", cwd=work)
    assert "Copy of hw (2).ipynb" in out and "10 / 10" in out
    assert "give the notebook to grade" in _grader(installed, "run", cwd=work, code=2)
    _grader(installed, "run", "canvas_download.zip", "--out", "graded/", "--jobs", "2", cwd=work)
    _grader(installed, "override", "graded/", "34567", "q1_gradf", "2.5", "--reason", "late", cwd=work)
    _grader(installed, "report", "graded/", cwd=work)
    assert (work / "graded" / "report.html").is_file()
    assert "5 scores" in _grader(installed, "export", "canvas", "graded/", "--gradebook", "canvas_export.csv",
                                 "--column", "HW1 micrograd", "-o", "import.csv", cwd=work)
    _grader(installed, "export", "roster", "graded/", "--roster", "students.csv", "-o", "named.csv", cwd=work)
    out = _grader(installed, "export", "otter", "-o", "otter/", cwd=work)
    assert "no instructor copy" in out  # the wheel carries no solutions, and says so
    for aid in ASSIGNMENTS:
        assert (work / "otter" / aid / "student" / "tests").is_dir()
        assert not (work / "otter" / aid / "instructor").exists()
    assert sorted(p.name for p in (work / "otter").iterdir()) == sorted(ASSIGNMENTS)  # nothing half-done
    out = _grader(installed, "build", "gradescope", "--assignment", "micrograd", "-o", "autograder.zip", cwd=work)
    with zipfile.ZipFile(work / "autograder.zip") as zf:
        assert any(n.startswith("micrograd_autograder-") and n.endswith(".whl") for n in zf.namelist())
    out = _grader(installed, "build", "wheel", "-o", "again/", cwd=work)
    assert len(list((work / "again").glob("micrograd_autograder-*.whl"))) == 1


def test_grading_one_notebook_says_what_it_is_doing(config, policy):
    """The live line a terminal shows: each code cell (k of n), then each question being checked."""
    from grader.grading.grade import GradeOptions, grade_notebook

    said: list[str] = []
    result = grade_notebook(solution_path(), config.get("micrograd"), name="s.ipynb",
                            options=GradeOptions(seed=1, policy=policy, status=said.append),
                            config_digest=config.digest)
    assert result.score == 10
    cells = [s for s in said if s.startswith("cell ")]
    n = int(cells[0].split(" of ")[1])
    assert cells == [f"cell {k} of {n}" for k in range(1, n + 1)]
    assert said[len(cells):] == [f"checking {q.id}" for q in config.get("micrograd").questions]


def test_an_ambiguous_notebook_is_asked_by_number_and_again_after_a_typo(config, tmp_path, monkeypatch, capsys):
    import grader.cli.choose as cli

    path = write(tmp_path / "scratch.ipynb", ["x = 1"])
    answers = iter(["mlpp", "3"])
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    chosen = choose_assignment(config, path, None)
    err = capsys.readouterr().err
    assert "  1  micrograd" in err and "'mlpp' is none of them" in err
    assert chosen.id == [a.id for a in candidates(config, path)][2]


@pytest.mark.parametrize("name, content, reason", [
    ("notes.txt", "my answers", "is not a notebook (.ipynb)"),
    ("empty.ipynb", "", "is not a readable notebook"),
    ("blank.ipynb", '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "has no code in it"),
])
def test_a_file_with_nothing_to_grade_says_so_not_which_assignment(config, tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(reason)):
        choose_assignment(config, path, None)
