"""The code sent into kernels (``grader.inkernel``, and for otter tests ``grader.otterbridge.runtime``
with ``checks/fd_steps``) assembled into one source: standard library only, no import of the
grader, Python 3.10 syntax, one name per part, and it runs in a bare interpreter (no site-packages,
so no grader to import) as the probe runner, answering probes with the exact JSON the grader reads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import grader
from grader import inkernel
from grader.config import load_config
from grader.otterbridge import runtime
from grader.otterbridge import export
from grader.otterbridge.specs import specs
from grader.execution.probes import ObsStatus, parse_result

CONFIG = Path(grader.__file__).parent / "assignments.yml"
ALLOWED_TWICE = {"TYPE_CHECKING", "_math"}  # the typing guard and `import math as _math` per part


def all_specs() -> list:
    config = load_config(CONFIG)
    return [s for a in config.assignments.values() for s in specs(a)]


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(level, module) of every import in ``source``, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def sources() -> list[tuple[str, str]]:
    out = [("runner", inkernel.runner_source())]
    out += [(f"otter {s.question.id}", export.test_source(s)) for s in all_specs()]
    return out


@pytest.mark.parametrize("name,source", sources(), ids=lambda x: x if len(x) < 40 else None)
def test_the_assembled_source_imports_only_the_standard_library(name: str, source: str) -> None:
    ast.parse(source, feature_version=(3, 10))
    assert source.startswith("from __future__ import annotations\n")
    imports = imported_modules(source)
    assert imports, "the walk found no import at all: it walks nothing"
    for level, module in imports:
        assert level == 0, f"{name}: a relative import was left in: from {'.' * level}{module}"
        if module != "__future__":
            assert module.split(".")[0] in sys.stdlib_module_names, f"{name}: imports {module}"
        assert not module.startswith("grader"), f"{name}: imports {module}"


def top_level_names(source: str) -> list[str]:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0
                                              and node.module != "__future__"):
            names += [a.asname or a.name.split(".")[0] for a in node.names]  # (relative: removed)
    return names


def test_no_two_parts_bind_one_name() -> None:
    """The parts share one namespace: a name bound by two of them would silently replace the first."""
    fd_steps = Path(grader.__file__).parent / "checks" / "fd_steps.py"
    parts = ([("fd_steps", fd_steps.read_text(encoding="utf-8"))]
             + [(n, inkernel.module_source(n)) for n in inkernel.MODULES]
             + [(f"runtime.{n}", runtime.module_source(n)) for n in runtime.MODULES])
    owner: dict[str, str] = {}
    for part, source in parts:
        for name in set(top_level_names(source)) - ALLOWED_TWICE:
            assert name not in owner, f"{name} is bound by {owner[name]} and by {part}"
            owner[name] = part
    assert {"probe", "install", "TASKS", "check", "SPEC", "Component"} <= set(owner)


@pytest.mark.parametrize("package", [inkernel, runtime])
def test_every_module_of_the_package_is_sent(package) -> None:
    folder = Path(package.__file__).parent
    on_disk = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    assert on_disk == set(package.MODULES)


BARE_RUN = r'''
import builtins, json, sys, types
source = sys.stdin.read()
published = []
class Events:
    def register(self, event, fn):
        pass
class Shell:
    user_ns = {}
    events = Events()
    class display_pub:
        @staticmethod
        def publish(data, metadata):
            published.append(data)
    def register_magic_function(self, fn, kind, name):
        pass
module = types.ModuleType("_grader_test")
module.__dict__["__builtins__"] = dict(builtins.__dict__)
exec(compile(source, "<grader>", "exec"), module.__dict__)
shell = Shell()
module.install(shell, 1000)
class Value:
    def __init__(self, data, children=()):
        self.data, self.grad, self._prev = data, 0.0, set(children)
        self._backward = lambda: None
    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other))
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
    def backward(self):
        self.grad = 1.0
        for v in (self, *self._prev):
            v._backward()
shell.user_ns.update(x=[0.5, 2], Value=Value, half=lambda: 0.5 + 1j)
module.probe("N1", "value", ["x"])
module.probe("N2", "graph", ["Value", [["leaf", 3.0], ["leaf", -2.0], ["mul", 0, 1]]])
module.probe("N3", "value", ["nope"])
module.probe("N4", "call", ["half", []])
print(json.dumps([p[module.MIME] for p in published]))
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("grader", "typing")))))
'''


def test_the_runner_runs_in_a_bare_interpreter(tmp_path: Path) -> None:
    """No site-packages (-S), no environment or user site (-I), run from an empty folder."""
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", BARE_RUN], input=inkernel.runner_source(),
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    payloads, modules = (json.loads(line) for line in proc.stdout.splitlines())
    assert modules == []  # neither the grader nor typing was imported: annotations are never evaluated
    value, graph, missing, call = (parse_result(n, payloads) for n in ("N1", "N2", "N3", "N4"))
    assert value.status is ObsStatus.OK and value.value == [0.5, 2]
    assert graph.status is ObsStatus.OK and graph.value == {"data": [3.0, -2.0, -6.0], "grad": [-2.0, 3.0]}
    assert missing.status is ObsStatus.MISSING and missing.detail == "nope"
    assert call.status is ObsStatus.INVALID
    assert call.detail == "half(...) is a complex, expected a list of numbers"


def test_the_otter_checks_define_their_parts_in_a_bare_interpreter(tmp_path: Path) -> None:
    """Every exported test's source executes (its definitions, the runner's and, for a
    finite-difference question, the step recovery's) without the grader installed."""
    script = ("import json, sys, types\n"
              "for k, source in enumerate(json.loads(sys.stdin.read())):\n"
              "    sys.modules['t%d' % k] = module = types.ModuleType('t%d' % k)  # as the OK test does\n"
              "    ns = module.__dict__\n"
              "    exec(compile(source, '<test>', 'exec'), ns)\n"
              "    assert callable(ns['check']) and callable(ns['probe']) and ns['SPEC']['ok']\n"
              "print(sorted(m for m in sys.modules if m.startswith('grader')))\n")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script],
                          input=json.dumps([export.test_source(s) for s in all_specs()]),
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
