"""assignments.yml: parsed once into typed objects; every mistake names the key, its line, a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.model import CheckKind, Limits
from grader.config import load_config
from grader.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
version: 1
assignments:
  demo:
    notebook: demo.ipynb
    limits: {cell_timeout: 5}
    questions:
      - id: q1
        points: 2
        kind: analytic_gradient
        credit: {published: 0.5, hidden: 0.5}
        params:
          function: gradf
          expression: "x**2 + sin(y)"
          variables: [x, y]
          point: [1, 2]
          domain: {x: [0, 1], y: [0, 1]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assignments.yml"
    path.write_text(text)
    return path


def test_the_repository_config_is_valid():
    config = load_config(ROOT / "assignments.yml")
    micrograd = config.get("micrograd")
    assert [q.id for q in micrograd.questions] == [
        "q1_gradf", "q2_forward_diff", "q3_symmetric_diff", "q4_softmax_nll"]
    q1 = micrograd.questions[0]
    assert q1.kind is CheckKind.ANALYTIC_GRADIENT
    assert q1.params.point == (2.0, 3.0, 4.0)
    assert dict(q1.credit) == {"published": 0.4, "hidden": 0.6}
    assert micrograd.limits.cell_timeout == 30


def test_a_small_valid_file(tmp_path):
    a = load_config(write(tmp_path, GOOD)).get(None)
    assert a.limits == Limits(cell_timeout=5.0)
    assert a.questions[0].params.variables == ("x", "y")


@pytest.mark.parametrize("old,new,message,line,suggestion", [
    ("    notebook: demo.ipynb", "    notebok: demo.ipynb", "unknown key 'notebok'", 4, "notebook"),
    ("        points: 2", "        pionts: 2", "unknown key 'pionts'", 8, "points"),
    ("          function: gradf", "          functon: gradf", "unknown key 'functon'", 12, "function"),
    ("    limits: {cell_timeout: 5}", "    limits: {cell_timout: 5}", "unknown key 'cell_timout'", 5, "cell_timeout"),
    ("        kind: analytic_gradient", "        kind: analytic_gradeint", "is not one of", 9, "analytic_gradient"),
    ("        credit: {published: 0.5, hidden: 0.5}", "        credit: {published: 0.5, hiden: 0.5}",
     "has no part 'hiden'", 10, "hidden"),
    ("        credit: {published: 0.5, hidden: 0.5}", "        credit: {published: 0.5, hidden: 0.6}",
     "sum to 1", 10, None),
    ('          expression: "x**2 + sin(y)"', '          expression: "x**2 + sin(z)"', "undeclared names: z", 13, None),
    ("          point: [1, 2]", "          point: [1, two]", "expected a number", 15, None),
    ("        points: 2", "        points: -1", "points must be positive", 8, None),
])
def test_mistakes_name_key_line_and_fix(tmp_path, old, new, message, line, suggestion):
    assert old in GOOD
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    assert info.value.line == line
    assert info.value.suggestion == suggestion
    assert f"assignments.yml:{line}:" in str(info.value)


def test_not_yaml_and_merge_keys(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(write(tmp_path, "assignments: [unclosed\n"))
    assert info.value.line == 2
    with pytest.raises(ConfigError, match="merge keys"):
        load_config(write(tmp_path, GOOD.replace("    limits: {cell_timeout: 5}",
                                                 "    limits: {<<: {cell_timeout: 5}}")))


def test_duplicate_question_and_missing_file(tmp_path):
    text = GOOD + GOOD[GOOD.index("      - id: q1"):]
    with pytest.raises(ConfigError, match="duplicate question id 'q1'"):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")


def test_unknown_assignment_suggests_the_nearest(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="no assignment 'dmeo'") as info:
        config.get("dmeo")
    assert info.value.suggestion == "demo"


def test_a_question_is_named_by_its_id_in_key_paths(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace("        points: 2", "        points: -1")))
    assert info.value.key == "assignments.demo.questions[q1].points"
    assert "[0]" not in str(info.value)


@pytest.mark.parametrize("old, new, message", [
    ("    notebook: demo.ipynb", "    notebook: demo.ipynb\n\tlimits: {}", "a tab character: indent with spaces only"),
    ("variables: [x, y]", "variables: [x, y", "a '[' that is never closed"),
    ('expression: "x**2 + sin(y)"', 'expression: "x**2 + sin(y"', "a bracket that is never closed"),
    ('expression: "x**2 + sin(y)"', 'expression: "x**2 +* sin(y)"', "not a valid Python expression"),
])
def test_parser_messages_are_in_an_instructors_words(tmp_path, old, new, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    assert message in str(info.value)
    assert "\\t" not in str(info.value) and "TokenError" not in str(info.value)


@pytest.mark.parametrize("key", ["exercise", "solution"])
def test_a_misspelt_notebook_path_is_an_error_naming_the_key(tmp_path, key):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "demo.ipynb").write_text("{}")
    good = GOOD.replace("    notebook: demo.ipynb", "    notebook: demo.ipynb\n    exercise: exercises/demo.ipynb")
    assert load_config(write(tmp_path, good)).get("demo").exercise == tmp_path / "exercises" / "demo.ipynb"
    text = good.replace("exercise: exercises/demo.ipynb", f"{key}: exercise/demo.ipynb")
    with pytest.raises(ConfigError, match=f"assignments.demo.{key}: no such file") as info:
        load_config(write(tmp_path, text))
    assert info.value.line == 5


def test_check_config_and_run_refuse_a_misspelt_exercise(tmp_path, capsys):
    from grader.cli import main

    text = (ROOT / "assignments.yml").read_text().replace("exercise: exercises/mlp.ipynb",
                                                          "exercise: exercises/mlpp.ipynb")
    (tmp_path / "assignments.yml").write_text(text)
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    for argv in (["check-config", "--config", str(tmp_path / "assignments.yml")],
                 ["run", "--assignment", "mlp", "--config", str(tmp_path / "assignments.yml")]):
        assert main(argv) == 2
        assert "assignments.mlp.exercise: no such file" in capsys.readouterr().err
