"""Gradescope: the autograder.zip (layout, reproducibility, no secrets), finding the submission,
results.json against the published spec, and the whole image for real: setup.sh in a fresh virtual
environment, then run_autograder on the solution, the exercise, a hostile notebook and garbage."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader import __version__
from grader.cli import main as cli_main
from grader.config import load_config
from grader.sandbox.identity import stranger
from grader.gradescope import autograder
from grader.gradescope.autograder import NoSubmission, find_submission, run
from grader.gradescope.build import build_gradescope_zip
from grader.report.gradescope import gradescope_results
from grader.results import PartResult, QuestionResult, SubmissionResult
from notebooks import exercise_path, solution_path, write

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ("q1_gradf", "q2_forward_diff", "q3_symmetric_diff", "q4_softmax_nll")
WHEEL = f"micrograd_autograder-{__version__}-py3-none-any.whl"

# Gradescope's results.json, as its autograder specification publishes it.
FORMATS = ["text", "html", "simple_format", "md", "ansi"]
VISIBILITY = ["hidden", "after_due_date", "after_published", "visible"]
GRADESCOPE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["score", "execution_time", "output", "output_format", "stdout_visibility", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string", "minLength": 1},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITY},
        "stdout_visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
        "tests": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["name", "number", "score", "max_score", "status", "output", "output_format",
                         "visibility"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "name_format": {"enum": FORMATS},
                "number": {"type": "string", "minLength": 1},
                "score": {"type": "number", "minimum": 0},
                "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string", "minLength": 1},
                "output_format": {"enum": FORMATS},
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": {"enum": VISIBILITY},
                "extra_data": {"type": "object"},
            },
        }},
    },
}


def check_results(data: dict) -> dict:
    """Valid against the spec, and consistent: each test within its max, names start with an id."""
    jsonschema.Draft202012Validator.check_schema(GRADESCOPE_SCHEMA)
    jsonschema.validate(data, GRADESCOPE_SCHEMA, cls=jsonschema.Draft202012Validator)
    for test in data["tests"]:
        assert test["score"] <= test["max_score"] + 1e-9, test
        assert test["name"].split(":")[0] in QUESTIONS + ("submission", "grader error",
                                                          "grader error (traceback)"), test["name"]
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6
    return data


def visible_text(data: dict) -> str:
    return data["output"] + "".join(t["output"] for t in data["tests"] if t["visibility"] != "hidden")


def by_name(data: dict, name: str) -> dict:
    """The test called ``name``, else the only one whose name starts with it."""
    exact = [t for t in data["tests"] if t["name"] == name]
    (test,) = exact or [t for t in data["tests"] if t["name"].startswith(name)]
    return test


# --------------------------------------------------------------------------- the zip

@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A frozen copy of the sources to build from (the working tree may change under a test)."""
    dest = tmp_path_factory.mktemp("project")
    shutil.copy2(ROOT / "pyproject.toml", dest)
    shutil.copy2(ROOT / "assignments.yml", dest)
    shutil.copytree(ROOT / "grader", dest / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def built_zip(snapshot, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    report = build_gradescope_zip(snapshot / "assignments.yml", out, "micrograd", project=snapshot)
    assert report.entries == ("assignments.yml", WHEEL, "run_autograder", "setup.sh")
    return out


def test_zip_holds_the_scripts_the_wheel_and_one_assignment(built_zip, tmp_path):
    with zipfile.ZipFile(built_zip) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert sorted(infos) == ["assignments.yml", WHEEL, "run_autograder", "setup.sh"]
        modes = {name: (i.external_attr >> 16) & 0o7777 for name, i in infos.items()}
        assert modes == {"assignments.yml": 0o644, WHEEL: 0o644, "run_autograder": 0o755,
                         "setup.sh": 0o755}
        assert {i.date_time for i in infos.values()} == {(1980, 1, 1, 0, 0, 0)}
        shipped = {name: zf.read(name) for name in infos}
    with zipfile.ZipFile(io.BytesIO(shipped[WHEEL])) as wheel:
        names = wheel.namelist()
        assert names == sorted(names)
        assert all(n.startswith(("grader/", f"micrograd_autograder-{__version__}.dist-info/")) for n in names)
        assert "grader/gradescope/templates/setup.sh" in names
        assert {i.date_time for i in wheel.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        unpacked = b"".join(wheel.read(n) for n in names)
    (tmp_path / "assignments.yml").write_bytes(shipped["assignments.yml"])
    config = load_config(tmp_path / "assignments.yml")
    assert list(config.assignments) == ["micrograd"]
    assert [q.id for q in config.get("micrograd").questions] == list(QUESTIONS)
    assert config.get("micrograd").solution is None and config.get("micrograd").exercise is None
    # Nothing of the solution travels: none of its answer lines appears anywhere in the zip.
    solution = json.loads(solution_path().read_text())
    exercise = exercise_path().read_text()
    answers = {line.strip() for cell in solution["cells"] if cell["cell_type"] == "code"
               for line in "".join(cell["source"]).splitlines()
               if len(line.strip()) > 25 and line.strip() not in exercise}
    assert len(answers) > 5
    everything = b"".join(shipped.values()) + unpacked
    assert [a for a in answers if a.encode() in everything] == []


@pytest.mark.slow
def test_build_is_reproducible(snapshot, built_zip, tmp_path):
    again = build_gradescope_zip(snapshot / "assignments.yml", tmp_path / "again.zip", "micrograd",
                                 project=snapshot)
    assert again.path.read_bytes() == built_zip.read_bytes()


def test_build_rejects_an_unknown_assignment_before_writing(tmp_path, capsys):
    out = tmp_path / "autograder.zip"
    code = cli_main(["build", "gradescope", "--config", str(ROOT / "assignments.yml"),
                     "--assignment", "micrograds", "-o", str(out)])
    assert code == 2
    assert "no assignment 'micrograds'" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- finding the submission

FOUND = {
    "expected name": (["micrograd_exercises.ipynb", "scratch.ipynb"], "micrograd_exercises.ipynb"),
    "expected name nested": (["hw1/micrograd_exercises.ipynb", "scratch.ipynb"],
                             "hw1/micrograd_exercises.ipynb"),
    "expected name other case": (["Micrograd_Exercises.ipynb", "x.ipynb"], "Micrograd_Exercises.ipynb"),
    "only notebook any name": (["My Homework (1).ipynb", "notes.txt"], "My Homework (1).ipynb"),
    "upper-case suffix": (["HW.IPYNB", "hw.pdf"], "HW.IPYNB"),
    "checkpoints ignored": (["mine.ipynb", ".ipynb_checkpoints/mine-checkpoint.ipynb"], "mine.ipynb"),
    "macOS litter ignored": (["hw.ipynb", "__MACOSX/._hw.ipynb", "._hw.ipynb"], "hw.ipynb"),
}
NOT_FOUND = {
    "nothing": ([], "no Jupyter notebook (`.ipynb` file) was found in your submission; upload"),
    "no notebook": (["hw.pdf", "hw.py"], "(received: `hw.pdf`, `hw.py`)"),
    "only a checkpoint": ([".ipynb_checkpoints/hw-checkpoint.ipynb"], "no Jupyter notebook"),
    "several none expected": (["a.ipynb", "b/c.ipynb"],
                              "2 notebooks (`a.ipynb`, `b/c.ipynb`) and none is named "
                              "`micrograd_exercises.ipynb`"),
    "expected name twice": (["a/micrograd_exercises.ipynb", "b/micrograd_exercises.ipynb"],
                            "2 files named `micrograd_exercises.ipynb`"),
}


def _upload(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize("names, expected", FOUND.values(), ids=FOUND.keys())
def test_find_submission_picks(tmp_path, names, expected):
    folder = _upload(tmp_path / "submission", names)
    assert find_submission(folder, "micrograd_exercises.ipynb") == folder / expected


@pytest.mark.parametrize("names, message", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_find_submission_explains(tmp_path, names, message):
    folder = _upload(tmp_path / "submission", names)
    with pytest.raises(NoSubmission) as info:
        find_submission(folder, "micrograd_exercises.ipynb")
    assert message in info.value.reason


def test_find_submission_ignores_symlinks(tmp_path):
    folder = _upload(tmp_path / "submission", [])
    (folder / "micrograd_exercises.ipynb").symlink_to(ROOT / "assignments.yml")
    with pytest.raises(NoSubmission, match="no Jupyter notebook"):
        find_submission(folder, "micrograd_exercises.ipynb")


# --------------------------------------------------------------------------- results.json, no kernel

@pytest.fixture
def image(tmp_path, built_zip) -> Path:
    """An autograder root holding the built zip's config, an empty submission folder, no results."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(built_zip) as zf:
        zf.extract("assignments.yml", root / "source")
    return root


def _run(root: Path) -> tuple[dict, str]:
    log = io.StringIO()
    returned = run(root, log=log)
    written = json.loads((root / "results" / "results.json").read_text())
    assert written == returned
    return check_results(written), log.getvalue()


@pytest.mark.parametrize("names, message", [
    ([], "no Jupyter notebook (`.ipynb` file) was found in your submission"),
    (["a.ipynb", "b.ipynb"], "2 notebooks (`a.ipynb`, `b.ipynb`)"),
], ids=["nothing", "ambiguous"])
def test_unusable_submission_is_a_zero_with_a_visible_reason(image, names, message):
    _upload(image / "submission", names)
    (image / "results").mkdir()
    (image / "results" / "results.json").write_text('{"score": 1000}')  # planted: must not survive
    data, _ = _run(image)
    assert data["score"] == 0
    test = by_name(data, "submission")
    assert test["visibility"] == "visible" and test["status"] == "failed"
    assert message in test["output"] and message in data["output"]
    assert [t["name"].split(":")[0] for t in data["tests"][1:]] == [
        q for q in QUESTIONS for _ in range(2 if q in ("q1_gradf", "q4_softmax_nll") else 1)]


def test_broken_config_is_a_grader_error_result_with_the_traceback_hidden(image):
    (image / "source" / "assignments.yml").write_text("assignments: {micrograd: {questions: []}}\n")
    _upload(image / "submission", ["micrograd_exercises.ipynb"])
    data, log = _run(image)
    assert data["score"] == 0
    assert by_name(data, "grader error")["visibility"] == "visible"
    assert "not your fault" in by_name(data, "grader error")["output"]
    hidden = by_name(data, "grader error (traceback)")
    assert hidden["visibility"] == "hidden" and "ConfigError" in hidden["output"]
    assert "Traceback" not in visible_text(data) and "ConfigError" in log


def test_grader_bug_still_writes_results(image, monkeypatch):
    def boom(*args, **kw):
        raise RuntimeError("boom from a test")

    monkeypatch.setattr(autograder, "grade_notebook", boom)
    _upload(image / "submission", ["micrograd_exercises.ipynb"])
    data, log = _run(image)
    assert data["score"] == 0 and "boom from a test" in log
    assert "boom from a test" in by_name(data, "grader error (traceback)")["output"]
    assert "boom" not in visible_text(data)


def test_internal_error_result_keeps_question_tests_and_hides_the_traceback(config):
    assignment = config.get("micrograd")
    questions = tuple(QuestionResult(q.id, q.title, q.points,
                                     tuple(PartResult(p, 0.0, q.points * s, "not checked", True,
                                                      q.visibility[p]) for p, s in q.credit.items()))
                      for q in assignment.questions)
    result = SubmissionResult("micrograd", "x.ipynb", questions, 1.5, __version__,
                              internal_error="Traceback (most recent call last):\nKeyError: 'x'")
    data = check_results(gradescope_results(result))
    assert by_name(data, "grader error (traceback)")["visibility"] == "hidden"
    assert "KeyError" not in visible_text(data)
    assert by_name(data, "q1_gradf: Analytic gradient of f (hidden)")["visibility"] == "after_published"
    assert by_name(data, "q1_gradf: Analytic gradient of f (published)")["visibility"] == "visible"


# --------------------------------------------------------------------------- the image, for real

def _extract(zip_path: Path, dest: Path) -> None:
    """Like unzip: files with the permissions the zip records."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            path.chmod((info.external_attr >> 16) & 0o777)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "GRADER_CONFIG")}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(extra)
    return env


def _grade_upload(root: Path, env: dict[str, str], files: dict[str, bytes]) -> tuple[dict, float]:
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    start = time.monotonic()
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "isolation: " in proc.stdout  # which layer ran, in the autograder's (hidden) output
    assert os.listdir(root / "results") == ["results.json"]  # written once, no stray temp files
    assert (root / "results" / "results.json").stat().st_uid == os.geteuid()
    return check_results(json.loads((root / "results" / "results.json").read_text())), elapsed


HOSTILE = """
import json, os, signal
FAKE = {"score": 1000, "tests": [{"name": "HACKED", "score": 1000, "max_score": 1}]}
for folder in [RESULTS, "/autograder/results"]:
    try:
        with open(os.path.join(folder, "results.json"), "w") as fh:
            json.dump(FAKE, fh)
    except OSError as exc:
        print("blocked:", exc)
print(json.dumps(FAKE))
"""


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="setup.sh runs as root, as on Gradescope")
def test_autograder_image_end_to_end(built_zip, tmp_path):
    # Outside pytest's private temp folder: the kernel's user must be able to run the venv.
    base = Path(tempfile.mkdtemp(prefix="grader-gradescope-", dir="/tmp"))
    try:
        base.chmod(0o755)
        root, source, venv = base / "autograder", base / "autograder" / "source", base / "venv"
        _extract(built_zip, source)
        python = os.environ.get("GRADER_TEST_PYTHON") or getattr(sys, "_base_executable", sys.executable)
        env = _clean_env(AUTOGRADER_ROOT=str(root), GRADER_VENV=str(venv), GRADER_PYTHON=python)
        setup = subprocess.run(["bash", "setup.sh"], cwd=source, env=env, capture_output=True,
                               text=True, timeout=1200, stdin=subprocess.DEVNULL)
        assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
        assert "cannot read" in setup.stdout
        assert stat.S_IMODE(source.stat().st_mode) == 0o700
        assert "isolation: " in setup.stdout  # the strongest layer the container allows, said
        peek = subprocess.run(["cat", str(source / "assignments.yml")], user=stranger().uid,
                              capture_output=True)
        assert peek.returncode != 0 and b"Permission denied" in peek.stderr
        shutil.copy2(source / "run_autograder", root / "run_autograder")  # as Gradescope does

        solution, elapsed = _grade_upload(root, env, {
            "Homework 1 (final).ipynb": solution_path().read_bytes(),
            ".ipynb_checkpoints/micrograd_exercises-checkpoint.ipynb": exercise_path().read_bytes()})
        assert solution["score"] == 10 and elapsed < 120  # a sanity bound; benchmarks/ measures
        assert all(t["status"] == "passed" for t in solution["tests"])
        names = [t["name"] for t in solution["tests"]]
        assert [n.split(":")[0] for n in names] == ["q1_gradf", "q1_gradf", "q2_forward_diff",
                                                    "q3_symmetric_diff", "q4_softmax_nll",
                                                    "q4_softmax_nll"]
        assert by_name(solution, "q1_gradf: Analytic gradient of f (hidden)")["visibility"] == \
            "after_published"

        exercise, _ = _grade_upload(root, env, {"micrograd_exercises.ipynb": exercise_path().read_bytes()})
        assert exercise["score"] == 0 and [t["name"] for t in exercise["tests"]] == names
        assert "df/da expected -12.35355339, got 0" in by_name(exercise, "q1_gradf: Analytic gradient "
                                                                         "of f (published)")["output"]

        hostile_nb = write(tmp_path / "hostile.ipynb", [
            f"RESULTS = {str(root / 'results')!r}\n" + HOSTILE,
            f"print(open({str(source / 'assignments.yml')!r}).read())",
            "try:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError as exc:\n    print(exc)",
            "def gradf(a, b, c):\n    return FAKE",
            "numerical_grad = numerical_grad2 = [float('nan')] * 3"])
        hostile, _ = _grade_upload(root, env, {"micrograd_exercises.ipynb": hostile_nb.read_bytes()})
        assert hostile["score"] == 0 and [t["name"] for t in hostile["tests"]] == names
        assert "HACKED" not in json.dumps(hostile)
        # The locked source: unreadable (mode 700), or not there at all where the sandbox hides it.
        assert re.search(r"cell 2 raised (PermissionError|FileNotFoundError)", hostile["output"])

        garbage, _ = _grade_upload(root, env, {"micrograd_exercises.ipynb": b"%PDF-1.4 not a notebook\n"})
        assert garbage["score"] == 0
        assert "not a valid notebook: invalid JSON at line 1, column 1" in \
            by_name(garbage, "submission")["output"]
        assert "could not be graded" in garbage["output"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
