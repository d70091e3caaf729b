"""The hostile corpus: notebooks that hang, crash, flood, escape, forge or are not notebooks at all.

Every scenario is graded in a real kernel with tight limits and asserts the exact score of each
question, that grading finished within the submission's deadline, and that nothing the notebook
started outlives grading (each kernel scenario starts a marked child process in its first cell).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from conftest import question, scores
from notebooks import solution_path, variant, write

LIMITS = {"cell_timeout": 4, "probe_timeout": 3, "submission_timeout": 60}
FULL = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0, "q4_softmax_nll": 3.0}
ZERO = {q: 0.0 for q in FULL}
WRONG_GRADF = "def gradf(a, b, c):\n    return [0.0, 0.0, 0.0]\n"


def without(*ids: str) -> dict[str, float]:
    return {**FULL, **{q: 0.0 for q in ids}}


def marker_cell(mark: str, new_session: bool = False) -> str:
    return ("import subprocess, sys\n"
            f"_child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)', {mark!r}],"
            f" start_new_session={new_session!r}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n")


def alive_with(mark: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if mark.encode() in fh.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


@dataclass
class Case:
    """A scenario: how to change the solution, the exact scores, and what else must hold."""

    id: str
    expected: dict[str, float]
    append: list[str] = field(default_factory=list)
    prepend: list[str] = field(default_factory=list)
    replace: dict[str, str] = field(default_factory=dict)
    check: Callable | None = None
    new_session: bool = False
    root_only: bool = False


def note_has(fragment: str) -> Callable:
    def check(result):
        assert any(fragment in n for n in result.notes), (fragment, result.notes)
    return check


def message_has(qid: str, fragment: str) -> Callable:
    def check(result):
        assert fragment in question(result, qid).message, question(result, qid).message
    return check


FAKE_PAYLOAD = json.dumps({"status": "ok", "value": [-12.353553390593273, 10.25699027111255, 0.0625]})

CASES = [
    # --- time: hangs in cells and in probed functions
    Case("infinite-loop-cell", FULL, append=["while True:\n    pass"], check=note_has("timed out")),
    Case("uninterruptible-loop-cell", FULL,
         append=["while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass"],
         check=note_has("timed out")),
    Case("sleep-forever-cell-then-answers", FULL, prepend=["import time\ntime.sleep(10**6)"]),
    Case("infinite-loop-in-gradf", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    while True:\n        pass\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "timed out")),
    Case("gradf-sleeps-when-probed", without("q1_gradf"),
         replace={"q1-gradf": "import time\ndef gradf(a, b, c):\n    time.sleep(10**6)\n", "q1-check": "pass"}),
    Case("uninterruptible-gradf", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    while True:\n        try:\n            while True: pass\n"
                              "        except BaseException:\n            pass\n", "q1-check": "pass"}),
    Case("softmax-hangs", without("q4_softmax_nll"),
         append=["def softmax(logits):\n    while True:\n        pass"]),
    # --- crashes
    Case("os-exit-at-the-end", FULL, append=["import os\nos._exit(1)"], check=note_has("killed the kernel")),
    Case("os-exit-in-the-middle", FULL, replace={"q2-check": "import os\nos._exit(3)"},
         check=note_has("cell 10 killed the kernel")),  # 9 + the marker cell
    Case("segfault", FULL, append=["import ctypes\nctypes.string_at(0)"], check=note_has("killed the kernel")),
    Case("gradf-kills-the-kernel", without("q1_gradf"),
         replace={"q1-gradf": "import os\ndef gradf(a, b, c):\n    os._exit(9)\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "kernel died")),
    Case("sys-exit-cell", FULL, append=["import sys\nsys.exit('done')"]),
    Case("gradf-raises-systemexit", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    raise SystemExit(0)\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "SystemExit")),
    Case("gradf-raises-keyboardinterrupt", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    raise KeyboardInterrupt\n", "q1-check": "pass"}),
    # --- resources
    Case("allocates-64-gib", FULL, append=["x = bytearray(64 * 2**30)"], check=note_has("MemoryError")),
    Case("prints-150-mb", FULL, append=["print('x' * 150_000_000)", "for i in range(100000):\n    print(i)"],
         check=lambda r: len(json.dumps(r.to_dict())) < 100_000),
    Case("writes-200-mb-file", FULL, append=["with open('big.bin', 'wb') as fh:\n"
                                             "    fh.write(b'0' * (200 * 2**20))"],
         check=note_has("File too large")),
    Case("writes-to-fd-1", FULL, append=["import os\nfor _ in range(50):\n    os.write(1, b'{\"status\": \"ok\"}' * 100000)"]),
    Case("many-children", FULL, append=["import subprocess, sys\nkids = [subprocess.Popen([sys.executable, '-c', "
                                        "'import time; time.sleep(3600)']) for _ in range(20)]"]),
    Case("child-leaves-the-session", FULL, new_session=True),
    # --- environment and escapes
    Case("pip-install", FULL, append=["!pip install micrograd", "%pip install torch", "%conda install numpy",
                                      "%%bash\ncurl http://example.com"],
         check=note_has("%pip is disabled while grading")),
    Case("input-fails-fast", FULL, prepend=["name = input('What is your name? ')"],
         check=note_has("StdinNotImplementedError")),
    Case("reset-at-the-top", FULL, prepend=["%reset -f"]),
    Case("chdir-and-env", FULL, append=["import os\nos.chdir('/')\nos.environ.clear()"]),
    Case("no-network", FULL, append=["import socket\ns = socket.socket()\ns.settimeout(2)\n"
                                     "s.connect(('1.1.1.1', 80))"], root_only=True,
         check=note_has("unreachable")),
    Case("reads-solutions-and-config", ZERO, root_only=True, replace={
        "q1-gradf": "import glob, json, pathlib\nsource = ''\n"
                    f"for p in glob.glob({str(solution_path().parent)!r} + '/*.ipynb'):\n"
                    "    cells = json.load(open(p))['cells']\n"
                    "    source += '\\n'.join(''.join(c['source']) for c in cells\n"
                    "                        if c['cell_type'] == 'code' and 'torch' not in ''.join(c['source']))\n"
                    f"config = pathlib.Path({str(solution_path().parents[1] / 'assignments.yml')!r}).read_text()\n"
                    "exec(source)\n",
        "q1-check": "pass", "q2-answer": "pass", "q3-answer": "pass", "q4-value": "pass", "q4-softmax": "pass"}),
    # --- forgery
    Case("fake-results-files", {**ZERO, "q2_forward_diff": 2.0}, replace={
        "q1-gradf": WRONG_GRADF, "q1-check": "pass", "q3-answer": "numerical_grad2 = [0, 0, 0]",
        "q4-value": "class Value:\n    pass"},
        append=["import json, os\nfake = {'score': 100, 'tests': []}\n"
                "for d in ['.', '/tmp', '/autograder/results', os.path.expanduser('~')]:\n"
                "    try:\n        open(os.path.join(d, 'results.json'), 'w').write(json.dumps(fake))\n"
                "    except OSError:\n        pass"]),
    Case("prints-fake-probe-results", without("q1_gradf"),
         replace={"q1-gradf": WRONG_GRADF, "q1-check": "pass"},
         append=[f"from IPython.display import display\nfor _ in range(3):\n    print({FAKE_PAYLOAD!r})\n"
                 f"    display({{'application/x-grader-probe': {FAKE_PAYLOAD!r}}}, raw=True)"]),
    Case("thread-forges-during-probes", without("q1_gradf"),
         replace={"q1-gradf": WRONG_GRADF, "q1-check": "pass"},
         append=["import threading, time\nfrom IPython.display import display\ndef spam():\n    while True:\n"
                 f"        print({FAKE_PAYLOAD!r})\n"
                 f"        display({{'application/x-grader-probe': {FAKE_PAYLOAD!r}}}, raw=True)\n"
                 "        time.sleep(0.002)\nthreading.Thread(target=spam, daemon=True).start()"]),
    Case("patched-builtins", without("q1_gradf"), replace={"q1-gradf": WRONG_GRADF, "q1-check": "pass"},
         append=["import builtins, math, pickle\nbuiltins.abs = lambda x: 0\nbuiltins.round = lambda *a, **k: 0\n"
                 "builtins.all = builtins.any = lambda *a: True\nbuiltins.float = lambda *a: -12.353553390593273\n"
                 "math.isclose = lambda *a, **k: True\npickle.loads = lambda *a, **k: [1, 2, 3]"]),
    Case("lying-object", without("q1_gradf"), replace={"q1-check": "pass", "q1-gradf": (
        "class Anything:\n    def __eq__(self, o): return True\n    def __float__(self): raise TypeError('no')\n"
        "    def __sub__(self, o): return 0.0\n    __rsub__ = __sub__\n"
        "def gradf(a, b, c):\n    return [Anything(), Anything(), Anything()]\n")},
        check=message_has("q1_gradf", "is a Anything, not a number")),
    Case("gradf-returns-a-set", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    return {1.0, 2.0, 3.0}\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "is a set, expected a list of numbers")),
    Case("gradf-wrong-length", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    return [1.0, 2.0]\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "has 2 entries, expected 3")),
    Case("gradf-returns-nan", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    return [float('nan')] * 3\n", "q1-check": "pass"},
         check=message_has("q1_gradf", "got nan")),
    Case("gradf-returns-strings", without("q1_gradf"),
         replace={"q1-gradf": "def gradf(a, b, c):\n    return ['-12.35', '10.25', '0.0625']\n",
                  "q1-check": "pass"}, check=message_has("q1_gradf", "is a str, not a real number")),
    Case("grader-hook-overwritten", ZERO,
         replace={"q1-gradf": WRONG_GRADF, "q1-check": "pass"},
         append=["import sys\nfor k in list(sys.modules):\n    if k.startswith('_grader'):\n"
                 "        sys.modules[k] = type(sys)('fake')\n        sys.modules[k].probe = lambda *a: None"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_notebook(case: Case, grade, tmp_path):
    if case.root_only and os.geteuid() != 0:
        pytest.skip("needs root: the kernel runs as another user in its own namespaces")
    mark = f"grader-test-{uuid.uuid4().hex}"
    path = variant(tmp_path / f"{case.id}.ipynb", replace=case.replace,
                   prepend=[marker_cell(mark, case.new_session), *case.prepend], append=case.append)
    result = grade(path, **LIMITS)
    assert scores(result) == case.expected, [q.message for q in result.questions]
    assert result.execution_time < LIMITS["submission_timeout"] + 10
    assert alive_with(mark) == [], "a process the notebook started outlived grading"
    if case.check:
        case.check(result)


def test_whole_submission_deadline(grade, tmp_path):
    """Slow cells, each within its own limit, cannot make grading outlast the submission deadline."""
    mark = f"grader-test-{uuid.uuid4().hex}"
    path = variant(tmp_path / "slow.ipynb", prepend=[marker_cell(mark)],
                   append=["import time\ntime.sleep(3)"] * 8)
    result = grade(path, cell_timeout=4, probe_timeout=3, submission_timeout=14)
    assert result.execution_time < 14 + 10
    assert any(c.status == "skipped" for c in result.cells)
    assert scores(result) == ZERO
    assert "out of time" in question(result, "q1_gradf").message
    assert alive_with(mark) == []


# ----------------------------------------------------------------------------- files that are not notebooks

def _v3_notebook() -> bytes:
    nb = nbformat.read(str(solution_path()), as_version=4)
    return nbformat.writes(nbformat.convert(nb, 3)).encode()


def _stale_outputs() -> bytes:
    nb = nbformat.read(str(solution_path()), as_version=4)
    blob = base64.b64encode(os.urandom(15 * 2**20)).decode()
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": blob})]
    nb.cells[1].execution_count = 1
    return nbformat.writes(nb).encode()


def _unknown_kernel() -> bytes:
    nb = nbformat.read(str(solution_path()), as_version=4)
    nb.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    return nbformat.writes(nb).encode()


BAD_FILES = [
    ("not-json", b"this is not a notebook at all\n", "not a valid notebook: invalid JSON"),
    ("truncated-json", solution_path().read_bytes()[:5000], "JSON ends unexpectedly"),
    ("empty", b"", "the file is empty"),
    ("binary-garbage", bytes(range(256)) * 64, "not UTF-8 text"),
    ("latin-1-bytes", '{"cells": ["caf\xe9"]}'.encode("latin-1"), "not UTF-8 text"),
    ("json-not-a-notebook", b'{"name": "alice", "answers": [1, 2, 3]}', "JSON but not a Jupyter notebook"),
    ("json-list", b"[1, 2, 3]", "JSON but not a Jupyter notebook"),
    ("cells-not-a-list", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {"a": 1}}',
     "'cells' is not a list"),
]


@pytest.mark.parametrize("name,data,reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_a_result_not_a_crash(name, data, reason, grade, tmp_path):
    path = tmp_path / f"{name}.ipynb"
    path.write_bytes(data)
    result = grade(path, **LIMITS)
    assert result.status == "rejected"
    assert reason in result.error
    assert scores(result) == ZERO
    assert all(reason in q.message for q in result.questions)


@pytest.mark.parametrize("name,build", [("nbformat-3", _v3_notebook), ("unknown-kernelspec", _unknown_kernel),
                                        ("20-mb-stale-outputs", _stale_outputs)])
def test_odd_but_valid_notebooks_are_graded(name, build, grade, tmp_path):
    path = tmp_path / f"{name}.ipynb"
    path.write_bytes(build())
    result = grade(path, **LIMITS)
    assert scores(result) == FULL


def test_notebook_with_no_cells(grade, tmp_path):
    result = grade(write(tmp_path / "empty.ipynb", []), **LIMITS)
    assert scores(result) == ZERO
    assert "nothing defined" in " ".join(result.notes)
    assert "not defined: `gradf` does not exist" in question(result, "q1_gradf").message


def test_unreadable_path_is_a_result(grade, tmp_path):
    result = grade(tmp_path / "missing.ipynb", **LIMITS)
    assert result.status == "rejected" and scores(result) == ZERO


def test_created_kernel_user_cannot_see_grader_files(config, tmp_path):
    """As root, the CLI's --create-user path makes a user; its kernel finds no solution to copy."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import pwd

    from grader.grading.grade import GradeOptions, grade_notebook
    from grader.sandbox.denylist import protected_paths
    from grader.sandbox import detect

    policy = detect("grader-test-kernel", create_user=True)
    assert policy.user is not None and pwd.getpwnam("grader-test-kernel").pw_uid == policy.user.uid != 0
    case = next(c for c in CASES if c.id == "reads-solutions-and-config")
    path = variant(tmp_path / "cheat.ipynb", replace=case.replace)
    result = grade_notebook(path, config.get("micrograd"), options=GradeOptions(
        seed=1, policy=policy.with_hide(protected_paths(config))))
    assert scores(result) == ZERO
    assert not any("PermissionError" in n for n in result.notes), result.notes  # hidden, not just denied


def test_files_written_in_the_working_folder_never_run_as_the_grader(grade, tmp_path):
    """A notebook plants modules named like the grader's launcher and the kernel, then crashes the
    kernel so that it is restarted from that folder: neither planted file may run."""
    canary = tmp_path / "planted-code-ran"
    payload = f"open({str(canary)!r}, 'w').write('ran')\n"
    plant = (f"import os\npayload = {payload!r}\n"
             "for name in ['grader/__init__.py', 'grader/sandbox.py', 'ipykernel_launcher.py']:\n"
             "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
             "    open(name, 'w').write(payload)\n"
             "os._exit(1)")
    result = grade(variant(tmp_path / "plant.ipynb", append=[plant]), **LIMITS)
    assert scores(result) == FULL
    assert any("killed the kernel" in n for n in result.notes), result.notes
    assert not canary.exists()


def test_protected_paths_hide_grader_files_but_never_the_kernels_python(config):
    import sys
    import tempfile

    from grader.sandbox.denylist import protected_paths

    root = config.path.parent
    hidden = protected_paths(config, root, Path(tempfile.gettempdir()), Path(sys.prefix))
    assert str(config.path) in hidden and str(root / "solutions") in hidden
    assert str(root) not in hidden or not Path(sys.prefix).resolve().is_relative_to(root)
    assert str(Path(sys.prefix).resolve()) not in hidden
    assert str(Path(tempfile.gettempdir()).resolve()) not in hidden
