"""The package's shape: imports go one way (no cycle), and docs/design.md names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "grader"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for __init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The grader modules ``name`` imports anywhere in it: at the top, in functions, under
    ``TYPE_CHECKING``; ``from package import module`` counts as importing that module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return {f for f in found if f in modules and f != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_walker_sees_every_kind_of_import():
    """Relative, absolute, from-a-package-a-module and inside a function: all are edges."""
    graph = _graph()
    assert "grader.model" in graph["grader.checks"]                       # from ..model import
    assert "grader.checks" in graph["grader.config"]                      # inside load_config
    assert "grader.references.symbolic" in graph["grader.references.graphs"]  # from . import symbolic
    assert "grader.grading.cluster_worker" in graph["grader.grading.cluster"]  # absolute, in a function
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# The stages in the order docs/design.md gives: each may import those before it, never one after.
BASICS = {"grader", "grader.errors", "grader.text", "grader.model", "grader.results", "grader.inkernel"}
STAGES = ("sandbox", "intake", "execution", "references", "checks", "config", "report", "gradebook",
          "grading", "otterbridge", "gradescope", "cli", "__main__")
ALLOWED_UPWARD = {("report", "grader.gradebook.overrides")}  # the override model, a leaf


def _stage(module: str) -> int:
    if module in BASICS or module.startswith("grader.inkernel."):
        return -1
    return STAGES.index(module.split(".")[1])


def test_imports_go_one_way_between_stages():
    wrong = [(name, dep) for name, deps in _graph().items() for dep in deps
             if _stage(dep) > _stage(name)
             and (STAGES[_stage(name)], dep) not in ALLOWED_UPWARD]
    assert not wrong, "imports against the flow: " + ", ".join(f"{a} -> {b}" for a, b in wrong)


def test_the_model_imports_nothing_of_the_grader_but_its_errors():
    assert _graph()["grader.model"] <= {"grader.errors"}


def test_the_config_parser_is_given_the_check_kinds():
    graph = _graph()
    assert not {m for m in graph["grader.config.assignments"] | graph["grader.config.typed_yaml"]
                if m.startswith("grader.checks")}
    assert not {m for name, deps in graph.items() if name.startswith("grader.checks")
                for m in deps if m.startswith("grader.config")}


def test_every_check_kind_has_its_module():
    from grader.checks import registry
    from grader.model import CheckKind

    kinds = registry()
    assert set(kinds) == set(CheckKind)
    for kind, module in kinds.items():
        assert module.__name__ == f"grader.checks.{kind.value}"  # type: ignore[attr-defined]
        for name in ("Params", "parts", "plan", "judge"):
            assert hasattr(module, name), (kind, name)


def _named_in_design() -> set[str]:
    """The modules docs/design.md names in its package map: ``grader/...py`` paths."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(grader/[\w/]+\.py)`", text))


def test_design_names_every_module_and_only_modules_that_exist():
    on_disk = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    named = _named_in_design()
    assert not on_disk - named, f"modules docs/design.md does not name: {sorted(on_disk - named)}"
    assert not named - on_disk, f"docs/design.md names modules that do not exist: {sorted(named - on_disk)}"


def test_every_package_says_what_it_owns():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 80, f"{init.relative_to(ROOT)} needs a docstring saying what it owns"
