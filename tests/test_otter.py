"""The otter-grader bridge (issue 13): exported notebooks run with the real otter, their checks agree
with `grader run`'s published part, and otter's submission zips are graded as the notebook."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT
from notebooks import exercise_path, solution_path, variant
from test_fd_styles import CASES as FD_CASES
from test_training import CLASSIFIERS

from grader.cli import main
from grader.otterbridge.export import export_otter
from grader.otterbridge.specs import published_parts, specs

otter = pytest.importorskip("otter", reason="otter-grader is the optional extra `otter`")

NOTEBOOK = {"micrograd": "micrograd_exercises.ipynb", "engine": "engine.ipynb", "mlp": "mlp.ipynb",
            "training": "training.ipynb"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, config) -> Path:
    out = tmp_path_factory.mktemp("otter")
    export_otter(config, None, out)
    return out


def _execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _text(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def test_export_layout_and_nothing_hidden_or_solved(exported, config):
    for aid, name in NOTEBOOK.items():
        assignment = config.get(aid)
        qids = [s.question.id for s in specs(assignment)]
        student = nbformat.read(str(exported / aid / "student" / name), as_version=4)
        assert student.metadata["otter"]["OK_FORMAT"] is True
        assert sorted(student.metadata["otter"]["tests"]) == sorted(qids)
        assert student.metadata["grader"]["assignment"] == aid  # still recognised by grader run
        assert sorted(p.stem for p in (exported / aid / "student" / "tests").glob("*.py")) == sorted(qids)
        checks = [c.source for c in student.cells if c.source.startswith("grader.check(")]
        assert sorted(checks) == sorted(f'grader.check("{q}")' for q in qids)
        assert "otter.Notebook" in student.cells[0].source
        # the exercise's own cells, unchanged and in order; the tests hold no solution code
        exercise = nbformat.read(str(exercise_path(aid)), as_version=4)
        kept = [c.source for c in student.cells if "grader." not in c.source and "import otter" not in c.source]
        assert [c.source for c in exercise.cells] == kept[:len(exercise.cells)]
        tests = "".join(p.read_text() for p in (exported / aid / "student" / "tests").glob("*.py"))
        exercise_code = {c.source for c in exercise.cells}
        for cell in nbformat.read(str(solution_path(aid)), as_version=4).cells:
            if cell.cell_type == "code" and cell.source not in exercise_code and len(cell.source) > 80:
                assert cell.source not in tests
        for q in assignment.questions:  # checks exactly for the questions with a published part
            assert (q.id in qids) == bool(published_parts(q))
    assert "hidden_cases" not in json.dumps(nbformat.read(
        str(exported / "micrograd" / "student" / NOTEBOOK["micrograd"]), as_version=4).metadata)


@pytest.mark.slow
@pytest.mark.parametrize("aid", list(NOTEBOOK))
def test_instructor_copy_passes_every_check_and_student_copy_fails_each(exported, tmp_path, aid):
    for role, expect in (("instructor", True), ("student", False)):
        folder = tmp_path / role
        shutil.copytree(exported / aid / role, folder)
        if role == "student":  # the notebook alone: tests read from its metadata
            shutil.rmtree(folder / "tests")
        nb = _execute(folder / NOTEBOOK[aid], folder)
        checks = [c for c in nb.cells if c.source.startswith("grader.check(")]
        assert checks
        for cell in checks:
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
            text = _text(cell)
            if expect:
                assert "All test cases passed!" in text, (cell.source, text)
            else:
                assert "❌ Test case failed" in text and "Expected:" in text and "Got:" in text, text
        if role == "instructor":
            zips = list(folder.glob("*.zip"))  # made by the notebook's grader.export() cell
            assert len(zips) == 1
            with zipfile.ZipFile(zips[0]) as zf:
                assert NOTEBOOK[aid] in zf.namelist()


# --------------------------------------------------------------------------- agreement

def _micrograd(tmp: Path) -> list[tuple[str, Path]]:
    out = [("solution", solution_path()), ("exercise", exercise_path())]
    for case in FD_CASES:
        out.append((f"fd-{case[0]}", variant(tmp / f"fd-{case[0]}.ipynb",
                                             replace={"q2-answer": case[1], "q3-answer": case[2]})))
    edits = {
        "sign": {"edit": {"q1-gradf": ("1/c**2]", "-1/c**2]")}},
        "big-h": {"edit": {"q2-answer": ("h = 0.000001", "h = 0.1")}},
        "copy-forward": {"replace": {"q3-answer": "numerical_grad2 = list(numerical_grad)"}},
        "assign-not-accumulate": {"edit": {"q4-value": (
            "            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad",
            "            self.grad = 1.0 * out.grad\n            other.grad = 1.0 * out.grad")}},
        "broken-log": {"edit": {"q4-value": ("self.grad += (1.0 / self.data) * out.grad", "pass")}},
        "exp-uses-x": {"edit": {"q4-value": ("self.grad += out.data * out.grad",
                                             "self.grad += self.data * out.grad")}},
        "gradf-raises": {"replace": {"q1-gradf": "def gradf(a, b, c):\n    raise ValueError('todo')"}},
        "exp-grad-is-a-value": {"edit": {"q4-value": ("self.grad += out.data * out.grad",
                                                      "self.grad += out * out.grad")}},
        "hardcoded": {"replace": {"q1-gradf": "def gradf(a, b, c):\n    return [-12.353553390593273, "
                                              "10.25699027111255, 0.0625]"}},
    }
    out += [(name, variant(tmp / f"{name}.ipynb", **kw)) for name, kw in edits.items()]
    return out


def _mlp(tmp: Path) -> list[tuple[str, Path]]:
    edits = {
        "relu": ("neuron", ("act.tanh() if self.nonlin", "act.relu() if self.nonlin")),
        "no-bias": ("neuron", ("zip(self.w, x)), self.b)", "zip(self.w, x)))")),
        "params-no-bias": ("neuron", ("return self.w + [self.b]", "return self.w")),
        "tanh-last": ("mlp", ("nonlin=i != len(nouts) - 1", "nonlin=True")),
        "dtanh": ("value", ("(1 - t ** 2) * out.grad", "(1 - t) * out.grad")),
    }
    return [("mlp-solution", solution_path("mlp")), ("mlp-exercise", exercise_path("mlp"))] + [
        (f"mlp-{n}", variant(tmp / f"mlp-{n}.ipynb", assignment="mlp", edit={cell: e}))
        for n, (cell, e) in edits.items()]


def _training(tmp: Path) -> list[tuple[str, Path]]:
    def v(name: str, **kw) -> tuple[str, Path]:
        return f"training-{name}", variant(tmp / f"training-{name}.ipynb", assignment="training",
                                           drop=CLASSIFIERS, **kw)
    return [v("solution"),
            v("no-zero-grad", edit={"train-step": ("    model.zero_grad()\n", "")}),
            v("sign", edit={"train-step": ("p.data -= lr * p.grad", "p.data += lr * p.grad")}),
            v("not-squared", edit={"train-step": ("(yout - ygt) ** 2", "(yout - ygt)")}),
            v("slips", edit={"hinge": ("return data_loss + reg_loss", "return data_loss"),
                             "softmax": ("return [c / total for c in counts]", "return counts"),
                             "value": ("self.grad += s * (1 - s) * out.grad",
                                       "self.grad = s * (1 - s) * out.grad")}),
            ("training-exercise", exercise_path("training"))]


def _engine(tmp: Path) -> list[tuple[str, Path]]:
    return [("engine-solution", solution_path("engine")), ("engine-exercise", exercise_path("engine"))]


def _otter_verdicts(path: Path, tests: Path, qids: list[str], tmp: Path) -> dict[str, bool]:
    """Run the scenario notebook, then otter's Notebook.check on each exported question."""
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _j, otter as _o\n"
        f"_g = _o.Notebook(tests_dir={str(tests)!r})\n"
        f"print('VERDICTS' + _j.dumps({{q: _g.check(q).passed_all for q in {qids!r}}}))"))
    work = tmp / f"run-{path.stem}"
    work.mkdir(exist_ok=True)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    text = _text(nb.cells[-1])
    assert "VERDICTS" in text, nb.cells[-1].outputs
    return json.loads(text.split("VERDICTS", 1)[1])


SCENARIOS = {"micrograd": _micrograd, "engine": _engine, "mlp": _mlp, "training": _training}
# (assignment, this share of its scenarios, the fewest scenarios it must have): micrograd's many
# finite-difference scenarios in two shares, so that parallel workers split them
SHARES = [("micrograd", 0, 30), ("micrograd", 1, 30), ("engine", 0, 2), ("mlp", 0, 4), ("training", 0, 4)]


@pytest.mark.slow
@pytest.mark.parametrize("aid,share,fewest", SHARES, ids=[f"{a}-{s}" for a, s, _ in SHARES])
def test_exported_checks_agree_with_the_graders_published_part(exported, grade, config, tmp_path,
                                                                aid, share, fewest):
    every = SCENARIOS[aid](tmp_path)
    assert len(every) >= fewest
    shares = sum(a == aid for a, _, _ in SHARES)
    cases = every[share::shares]
    assignment = config.get(aid)
    qids = [s.question.id for s in specs(assignment)]
    agree, disagree = 0, []
    for name, path in cases:
        result = grade(path, aid)
        full = {}
        for q in result.questions:
            if q.id in qids:
                parts = [p for p in q.parts if p.name in published_parts(config.get(aid).questions[
                    [x.id for x in assignment.questions].index(q.id)])]
                full[q.id] = all(p.score >= p.max_score - 1e-9 for p in parts)
        verdicts = _otter_verdicts(path, exported / aid / "student" / "tests", qids, tmp_path)
        for qid in qids:
            if verdicts[qid] == full[qid]:
                agree += 1
            else:
                disagree.append((name, qid, "otter", verdicts[qid], "grader", full[qid]))
    print(f"\nagreement: {agree} of {agree + len(disagree)} (scenario, question) verdicts")
    assert not disagree, disagree
    assert agree == len(cases) * len(qids) > 0


# --------------------------------------------------------------------------- otter's zips

@pytest.fixture(scope="module")
def otter_zip(exported, tmp_path_factory) -> Path:
    """A zip made by otter's grader.export() in the executed instructor copy (micrograd)."""
    folder = tmp_path_factory.mktemp("zip") / "instructor"
    shutil.copytree(exported / "micrograd" / "instructor", folder)
    _execute(folder / NOTEBOOK["micrograd"], folder)
    (found,) = folder.glob("*.zip")
    return found


@pytest.mark.slow
def test_grader_run_grades_an_otter_zip_alone_and_in_a_batch(otter_zip, tmp_path, capsys):
    results = tmp_path / "one.json"
    assert main(["run", str(otter_zip), "--results", str(results)]) == 0
    assert json.loads(results.read_text())["score"] == 10.0
    capsys.readouterr()
    batch = tmp_path / "class"
    batch.mkdir()
    shutil.copy(otter_zip, batch / "smith_12345_67890_micrograd_exercises.zip")
    shutil.copy(solution_path(), batch / "jones_222_333_micrograd_exercises.ipynb")
    (batch / "doe_444_555_micrograd_exercises.zip").write_bytes(_zip({"notes.txt": b"hi"}))
    assert main(["run", str(batch), "--out", str(tmp_path / "graded"), "--assignment", "micrograd"]) == 0
    rows = (tmp_path / "graded" / "grades.csv").read_text()
    assert "12345" in rows and "222" in rows and "444" in rows
    line = next(r for r in rows.splitlines() if r.startswith("12345"))
    assert ",10" in line, rows
    assert "rejected" in next(r for r in rows.splitlines() if r.startswith("444"))
    assert "doe_444_555_micrograd_exercises.zip holds no notebook (.ipynb)" in capsys.readouterr().out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.slow
def test_gradescope_grades_the_notebook_in_an_otter_zip(otter_zip, tmp_path):
    from grader.gradescope.autograder import run

    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").mkdir()
    shutil.copy(ROOT / "assignments.yml", root / "source" / "assignments.yml")
    shutil.copy(otter_zip, root / "submission" / otter_zip.name)
    data = run(root, assignment_id="micrograd", log=io.StringIO())
    assert data["score"] == 10.0, data


def test_zip_rules_no_link_capped_one_notebook(tmp_path):
    from grader.intake.otterzip import notebook_in_zip
    from grader.intake.submission import Unreadable

    nb = solution_path().read_bytes()
    name, data = notebook_in_zip(_zip({"hw.ipynb": nb, "hw.pdf": b"%PDF", ".OTTER_LOG": b"x",
                                       ".ipynb_checkpoints/hw-checkpoint.ipynb": b"{}"}), "s.zip")
    assert (name, data) == ("hw.ipynb", nb)
    with pytest.raises(Unreadable, match="holds 2 notebooks"):
        notebook_in_zip(_zip({"a.ipynb": nb, "b.ipynb": nb}), "s.zip")
    with pytest.raises(Unreadable, match="too large|over"):
        notebook_in_zip(_zip({"a.ipynb": nb}), "s.zip", limit=100)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("a.ipynb")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/shadow")
    with pytest.raises(Unreadable, match="link"):
        notebook_in_zip(buf.getvalue(), "s.zip")
