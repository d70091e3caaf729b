"""Issue 24: a reader's first hour. The README's instructor walkthrough runs verbatim on the sample
class shipped in ``examples/sample_class/``, and what the docs say about commands, file names and
exit codes is what the product does."""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import grader
from grader.cli import _parser
from grader.intake.ids import student_id
from notebooks import ROOT

SAMPLE = ROOT / "examples" / "sample_class"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def walkthrough() -> list[str]:
    """The `grader` commands of the README's instructor walkthrough, exactly as written there."""
    (block,) = [b for b in code_blocks(README) if "canvas_download.zip --out graded/" in b]
    return [line for line in block.splitlines() if line.startswith("grader ")]


def grader_env() -> dict[str, str]:
    """``grader`` on PATH as `make run` installs it (this interpreter's venv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_CONFIG", "PYTHONPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_the_sample_class_is_a_realistic_canvas_download():
    with zipfile.ZipFile(SAMPLE / "canvas_download.zip") as zf:
        names = zf.namelist()
    canvas = re.compile(r"^[a-z]+(?:_late)?_\d+_\d+_.+$")
    assert names and all(canvas.match(n) for n in names), names
    ids = {student_id(n) for n in names}
    gradebook = {r["ID"] for r in rows(SAMPLE / "canvas_export.csv") if r["ID"].isdigit()}
    roster = {r["id"] for r in rows(SAMPLE / "students.csv")}
    assert ids <= gradebook and ids <= roster  # every submitter is on both lists ...
    assert gradebook - ids and roster - ids    # ... and someone did not submit
    assert any(not n.endswith(".ipynb") for n in names)  # a wrong file, as real classes have


@pytest.mark.slow
def test_the_readme_walkthrough_runs_verbatim_on_the_sample_class(tmp_path):
    commands = walkthrough()
    assert len(commands) == 6 and commands[0].startswith("grader run canvas_download.zip")
    work = tmp_path / "sample_class"
    shutil.copytree(SAMPLE, work)
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=work, env=grader_env(), capture_output=True,
                              text=True, timeout=900, executable="/bin/bash")
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    grades = {r["id"]: r for r in rows(work / "graded" / "grades.csv")}
    assert sorted(grades) == ["12345", "23456", "34567", "45678", "56789"]
    # Smith resubmitted (a sign slip left in gradf, the rest right), then got 2.5 of 3 by hand.
    smith = grades["12345"]
    assert (smith["q1_gradf"], smith["q3_symmetric_diff"], smith["total"]) == ("2.5", "2", "9.5")
    assert "right derivation, one sign slip" in smith["overrides"]
    assert (grades["34567"]["total"], grades["56789"]["status"]) == ("10", "rejected")
    feedback = (work / "graded" / "submissions" / "12345" / "feedback.md").read_text()
    assert "set by the instructor: right derivation, one sign slip" in feedback
    imported = {r["ID"]: r["HW1 micrograd (31415)"] for r in rows(work / "import.csv")}
    assert imported["12345"] == "9.5" and imported["34567"] == "10" and imported["78901"] == ""
    # Every file docs/batch.md says OUT holds is there, for a graded student (12345) and the
    # grades.csv header is the one it documents.
    table = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8").split("`OUT` holds:")[1]
    documented = re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)
    assert len(documented) >= 7
    for name in documented:
        assert (work / "graded" / name.replace("<id>", "12345")).is_file(), name
    header = (work / "graded" / "grades.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,file,q1_gradf,q2_forward_diff,q3_symmetric_diff,q4_softmax_nll,total,status,overrides"
    named = {r["id"]: r for r in rows(work / "grades_named.csv")}
    assert named["12345"]["name"] == "Alice Smith" and named["12345"]["total"] == "9.5"
    assert named["78901"]["status"] == "no submission"


def test_export_that_matches_nobody_is_an_error_and_some_a_loud_warning(tmp_path):
    """Another class's gradebook (no id in common): exit 2, said, no file. Some graded students
    missing from it: the file is written, and stderr says loudly whose scores are not in it."""
    from test_regrade import cli

    subs, out = tmp_path / "subs", tmp_path / "graded"
    subs.mkdir()
    (subs / "strangerx_777_1_notes.txt").write_text("not a notebook")  # rejected: graded without a kernel
    gradebook = ["--gradebook", str(SAMPLE / "canvas_export.csv"), "--column", "HW1 micrograd"]
    assert cli(["run", str(subs), "--out", str(out), "--assignment", "micrograd", "--no-sandbox"])[0] == 0
    code, _, err = cli(["export", "canvas", str(out), *gradebook, "-o", str(tmp_path / "import.csv")])
    assert code == 2 and "none of the 1 graded students" in err and "Nothing was written" in err
    assert not (tmp_path / "import.csv").exists()

    (subs / "smithalice_12345_2_notes.txt").write_text("not a notebook either")
    assert cli(["run", str(subs), "--out", str(out), "--assignment", "micrograd", "--no-sandbox"])[0] == 0
    code, stdout, err = cli(["export", "canvas", str(out), *gradebook, "-o", str(tmp_path / "import.csv")])
    assert code == 0 and f"wrote {tmp_path / 'import.csv'}: 1 score in 'HW1 micrograd (31415)'" in stdout
    assert f"WARNING: 1 graded student not in the gradebook, so their scores are NOT in {tmp_path / 'import.csv'}: 777" in err
    imported = {r["ID"]: r["HW1 micrograd (31415)"] for r in rows(tmp_path / "import.csv")}
    assert imported["12345"] == "0" and "777" not in imported


# ------------------------------------------------------------------ the docs say what the product does

def _subcommands() -> dict[str, object]:
    """Every command path (``run``, ``export canvas``, ``build wheel``, …) and its parser."""
    import argparse

    found: dict[str, object] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}".strip()] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(_parser(), "")
    return found


def _documented_commands() -> list[tuple[str, str]]:
    """(document, command line) for every ``grader …`` line in a shell block of the docs."""
    docs = [("README.md", README)] + [(p.name, p.read_text(encoding="utf-8"))
                                       for p in sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for name, text in docs:
        for block in code_blocks(text):
            for line in block.replace("\\\n", " ").splitlines():  # a command continued with \
                line = re.sub(r"^\S*?grader ", "grader ", re.split(r"\s#", line)[0].strip())
                if line.startswith("grader "):
                    found.append((name, line))
    return found


def test_every_documented_command_parses_as_the_product_reads_it():
    commands = _subcommands()
    checked = 0
    for doc, line in _documented_commands():
        line = re.sub(r"\[.*?\]|\(.*?\)$", "", line)  # a synopsis's optional parts, its notes
        line = re.sub(r"\bPOINTS\b", "1", re.sub(r"\bN\b", "2", line))
        line = re.sub(r"\$\(\(.*?\)\)|\$\{?\w+\}?", "2", line)  # a recipe's shell variables
        argv = shlex.split(line)[1:]
        if argv and argv[0].startswith("--") and argv[0] in ("--help", "--version"):
            continue
        path = " ".join(argv[:2]) if " ".join(argv[:2]) in commands else argv[0]
        assert path in commands, f"{doc}: `{line}` names no command"
        try:
            _parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{doc}: `{line}` is refused by the parser (exit {exc.code})")
        checked += 1
    assert checked >= 15


def test_every_command_documents_its_own_exit_codes_and_no_other_folder():
    for path, parser in _subcommands().items():
        text = parser.format_help()  # type: ignore[attr-defined]
        if path in ("export", "build"):
            continue
        assert "exit codes:" in text, path
        uses_out = any(a.metavar == "OUT" for a in parser._actions)  # type: ignore[attr-defined]
        assert ("OUT" in text.split("exit codes:")[1]) <= uses_out, f"{path}: exit codes mention OUT"


def test_the_documented_wheel_name_and_sizes_are_the_products():
    wheel = f"micrograd_autograder-{grader.__version__}-py3-none-any.whl"
    for doc in (README, (ROOT / "docs" / "gradescope.md").read_text(encoding="utf-8")):
        named = set(re.findall(r"micrograd_autograder-[^\s`)]*\.whl", doc))
        assert named <= {wheel, "micrograd_autograder-<version>-py3-none-any.whl"}, named
    assert wheel in README


def test_the_documented_exit_codes_are_the_products():
    run_help = _subcommands()["run"].format_help()  # type: ignore[attr-defined]
    for code in ("0", "2", "3", "4", "130"):
        assert re.search(rf"^\s+{code}\s", run_help, re.MULTILINE), code
        assert f"**{code}**" in README
    from grader.errors import ConfigError, KernelStartError, UsageError
    assert (UsageError.exit_code, ConfigError.exit_code, KernelStartError.exit_code) == (2, 2, 3)


@pytest.mark.parametrize("args", [["check-config"], ["--help"], ["run", "--help"], ["sandbox-check"]])
def test_a_reader_who_goes_away_changes_nothing(args, tmp_path):
    """`grader … | head -1`: the reader closes the pipe; the exit code is the command's own and
    nothing is said about the broken pipe (no "Exception ignored", no exit 120)."""
    proc = subprocess.Popen([sys.executable, "-m", "grader", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=grader_env())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0, err
    assert "Exception ignored" not in err and "BrokenPipe" not in err and "Traceback" not in err, err
