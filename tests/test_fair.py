"""Issue 15 §1: the same work gets the same score, whatever the draw; a grading can be reproduced; a
failing hidden graph is shown as the smallest piece that still fails, as code that runs."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, question, scores
from grader.references import graphs
from grader.checks import registry
from grader.report.feedback import feedback_markdown
from grader.results import SubmissionResult
from notebooks import variant

ADD = "self.grad += out.grad\n            other.grad += out.grad"
# One mistake (`=` where `+=` belongs in __add__'s backward), written three ways.
SAME_BUG = {
    "plain": "self.grad = out.grad\n            other.grad = out.grad",
    "scaled": "self.grad = 1.0 * out.grad\n            other.grad = out.grad * 1.0",
    "tuple": "self.grad, other.grad = out.grad, out.grad",
}


# --------------------------------------------------------------------------- no kernel

def test_every_hidden_battery_has_the_same_structure_whatever_the_seed(config):
    """Only numbers differ between draws: the probes' kinds, parts and shapes are fixed."""
    def shape(data):
        if isinstance(data, (list, tuple)):
            return [shape(x) for x in data]
        if isinstance(data, dict):
            return {k: shape(v) for k, v in data.items()}
        return "#" if isinstance(data, (int, float)) and not isinstance(data, bool) else data

    for assignment in config.assignments.values():
        for q in assignment.questions:
            check = registry()[q.kind]
            if q.kind.value == "accuracy":  # held-out points: the one draw that is all numbers
                continue
            plans = [check.plan(q.params, random.Random(seed)) for seed in (1, 2, 3)]
            structures = [[(p.part, p.request.task, shape(p.request.args)) for p in plan] for plan in plans]
            assert structures[0] == structures[1] == structures[2], q.id


@pytest.mark.parametrize("ops", [["add", "addc", "radd", "mul", "mulc", "rmul"], ["pow"], ["relu"],
                                 ["neg", "sub", "subc", "rsub"], ["div", "divc", "rdiv"],
                                 ["radd", "div", "neg", "exp", "log"]], ids=lambda o: "-".join(o))
def test_fixed_graphs_use_every_op_and_relu_keeps_its_side(ops):
    for k in range(3):
        nodes = graphs.fixed_graph(ops, random.Random(k), k)
        used = {n[0] for n in nodes}
        assert set(ops) <= used
        assert nodes[-1][1] == nodes[-1][2]  # the output's input used twice
        data = graphs.evaluate(nodes)
        for n in nodes:
            if n[0] == "relu" and n[1] == 0:
                assert (data[0] > 0) == (k % 2 == 0)
        for sub in graphs.shrinks(nodes):
            graphs.evaluate(sub)  # every piece is a graph of its own
            assert len(sub) < len(nodes)


def test_as_code_is_complete_python():
    nodes = graphs.fixed_graph(["radd", "div", "neg", "exp", "log"], random.Random(5), 1)
    code = graphs.as_code(nodes)
    assert "…" not in code and "..." not in code
    compile(code, "<case>", "exec")
    assert code.count("Value(") == sum(n[0] == "leaf" for n in nodes)


def test_seed_round_trips_and_feedback_says_how_to_reproduce():
    data = {"assignment": "engine", "submission": "a.ipynb", "questions": [], "execution_time": 1.0,
            "grader_version": "0", "seed": 987654321}
    result = SubmissionResult.from_dict(data)
    assert result.seed == 987654321 and result.to_dict()["seed"] == 987654321
    assert "`grader run NOTEBOOK --assignment engine --seed 987654321`" in feedback_markdown(result)


# --------------------------------------------------------------------------- real kernels

def test_one_notebook_graded_with_different_seeds_scores_the_same(grade):
    bob = ROOT / "examples" / "submissions" / "micrograd" / "bob_partly_wrong.ipynb"
    runs = [grade(bob, "micrograd", seed=seed) for seed in (1, 2, 3, None)]
    assert len({r.seed for r in runs}) == 4
    assert all(scores(r) == scores(runs[0]) for r in runs)


def test_the_same_bug_written_three_ways_scores_the_same(grade, tmp_path):
    results = {name: grade(variant(tmp_path / f"{name}.ipynb", assignment="engine", edit={"value": (ADD, new)}),
                           "engine", seed=seed)
               for seed, (name, new) in enumerate(SAME_BUG.items(), start=7)}
    first = scores(results["plain"])
    assert first["q1_add_mul"] < 2.0 and first["q6_div"] < 1.0  # the bug costs points
    for name, result in results.items():
        assert scores(result) == first, name


# A Value whose answers do not depend on the order of its `_prev` set (an `=` bug does: the set's
# order changes from run to run, and so do the wrong numbers, though not the score).
TANH_BUG = {"tanh": ("(1 - t ** 2)", "(1 - t)")}


def test_the_seed_in_a_result_reproduces_it_exactly(grade, tmp_path):
    path = variant(tmp_path / "bug.ipynb", assignment="engine", edit=TANH_BUG)
    first = grade(path, "engine", seed=None)
    again = grade(path, "engine", seed=first.seed)

    def same(r: SubmissionResult) -> dict:
        return {**r.to_dict(), "execution_time": 0}

    assert same(again) == same(first)
    assert "hidden" in question(first, "q10_neuron").message  # hidden inputs were drawn and shown


def test_cli_seed_reproduces_a_grading(tmp_path):
    path = variant(tmp_path / "bug.ipynb", assignment="engine", edit=TANH_BUG)
    outputs = []
    for k in range(2):
        out = tmp_path / f"r{k}.json"
        proc = subprocess.run([sys.executable, "-m", "grader", "run", str(path), "--assignment", "engine",
                               "--seed", "424242", "--results", str(out)], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr
        data = __import__("json").loads(out.read_text())
        data.pop("execution_time", None)
        outputs.append(data)
    assert outputs[0] == outputs[1]


def _run_in_fresh_kernel(cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    last = nb.cells[-1]
    return "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")


def test_a_shrunk_failing_case_is_complete_and_fails_the_same_way_in_a_fresh_kernel(grade, tmp_path):
    path = variant(tmp_path / "tanh.ipynb", assignment="engine", edit=TANH_BUG)
    result = grade(path, "engine")
    graphs_part = next(p for p in question(result, "q8_tanh").parts if p.name == "graphs")
    message = graphs_part.message
    assert "the smallest failing case" in message and "…" not in message and "..." not in message
    code = re.search(r"```python\n(.*?)\n```", message, re.S).group(1)
    assert code.splitlines()[1] == "b = a.tanh()" and code.count("tanh") == 1  # tanh alone: the smallest
    claims = re.findall(r"(\w+)\.grad expected (\S+), got (\S+?)[;( ]", message + " ")
    assert claims
    # the student's Value (every code cell of their notebook up to tanh), then the pasted case
    nb = nbformat.read(str(path), as_version=4)
    code_cells = [c.source for c in nb.cells if c.cell_type == "code"]
    printed = _run_in_fresh_kernel(code_cells + [code])
    lines = {ln.split()[0]: ln.split() for ln in printed.splitlines() if ln.strip()}
    for name, expected, got in claims:
        _, value, _, exp = lines[f"{name}.grad"]
        assert float(value) == pytest.approx(float(got), rel=1e-6)
        assert float(exp) == pytest.approx(float(expected), rel=1e-6)
        assert float(value) != pytest.approx(float(exp), rel=1e-6)  # it fails there too
