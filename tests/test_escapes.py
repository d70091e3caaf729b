"""Student-controlled text never drives the instructor's terminal, editor or browser.

A notebook whose cells and whose probed functions raise exceptions carrying OSC 52 (clipboard
write), OSC 0 (window title), CSI cursor moves and erasures, a bidi override, NUL, DEL, C1 bytes
and rich markup, in a file whose name carries some of them too, is graded by the real CLI with
its output on a pseudo-terminal (so ``rich`` and the live progress are used), as root and as an
ordinary user. Nothing of it may reach the terminal, ``feedback.md``, ``feedback.html``,
``grades.csv``, ``result.json`` or the Gradescope results raw; the escaped form is shown instead.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import pwd
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest

from grader.text import clip, one_line, shown
from notebooks import write, write_small_config

PAYLOAD = ("\x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b]0;owned\x07 \x1b[2J\x1b[1A\x1b[K "
           "\u202egnp.exe \x00 nul \x85\x9b31m c1 \x7f del [blink]MARKUP[/blink] \u2066iso\u2069 end")
# What must never appear raw anywhere (rich's own colour codes on the terminal are SGR only).
RAW = ["\x1b]", "\x07", "\x1b[2J", "\x1b[1A", "\x1b[K", "\u202e", "\x00", "\x85", "\x9b", "\x7f",
       "\u2066"]
FILE_RAW = RAW + ["\x1b"]


# --------------------------------------------------------------------------- the sanitiser

def test_shown_escapes_every_control_and_invisible_character_and_keeps_the_rest():
    assert shown(PAYLOAD) == ("\\x1b]52;c;ZWNobyBwd25lZA==\\x07 \\x1b]0;owned\\x07 \\x1b[2J\\x1b[1A\\x1b[K "
                              "\\u202egnp.exe \\x00 nul \\x85\\x9b31m c1 \\x7f del [blink]MARKUP[/blink] "
                              "\\u2066iso\\u2069 end")
    assert shown(shown(PAYLOAD)) == shown(PAYLOAD)  # idempotent: safe at the boundary and again at output
    kept = "line one\n\ttabbed: é ü 中文 ✓ 😀 a\u00a0b −3"
    assert shown(kept) == kept
    assert shown("a\rb\u2028c\u200bd\udcff") == "a\\rb\\u2028c\\u200bd\\udcff"
    assert one_line("two\nlines\ttab") == "two\\nlines\\ttab"
    assert clip("x" * 50, 10) == "x" * 10 + "… (40 more characters)"
    assert clip("short", 10) == "short"


# --------------------------------------------------------------------------- real kernels

def _notebook(path: Path) -> Path:
    p = repr(PAYLOAD)
    return write(path, [
        f"print({p})\nraise ValueError({p})",
        f"def gradf(a, b, c):\n    raise RuntimeError({p})",
        f"class Weird:\n    def __float__(self):\n        raise TypeError({p})\nnumerical_grad = [Weird(), 1.0, 2.0]",
        f"class Value:\n    def __init__(self, *a, **k):\n        raise OSError({p})\n"
        f"def softmax(xs):\n    return xs",
    ])


def _on_a_pty(argv: list[str], owner: pwd.struct_passwd | None, cwd: Path, env: dict[str, str]
              ) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal 200 columns wide; (exit code, bytes)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    who = ({"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {})
    if owner is not None:
        os.chown(os.ttyname(slave), owner.pw_uid, owner.pw_gid)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=cwd,
                            env=env, **who)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), bytes(out)


def _assert_clean(where: str, text: str, raw: list[str]) -> None:
    found = [repr(r) for r in raw if r in text]
    assert not found, f"{where} holds raw {', '.join(found)}"


@pytest.mark.parametrize("which", ["root", "ordinary-user"])
def test_escape_sequences_in_messages_and_names_are_shown_never_interpreted(which, request):
    owner = request.getfixturevalue("instructor") if which == "ordinary-user" else None
    if which == "root" and os.geteuid() != 0:
        pytest.skip("needs root")
    base = Path(tempfile.mkdtemp(prefix="grader-escapes-", dir=owner.pw_dir if owner else None))
    try:
        config = write_small_config(base / "config")
        subs = base / "subs"
        nb = _notebook(subs / "mallory_\x1b]0;title\x07\u202e_333.ipynb")
        single = _notebook(base / "one.ipynb")
        if owner is not None:
            for path in [base, *base.rglob("*")]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        env = {k: v for k, v in os.environ.items() if k != "GRADER_CONFIG"}
        env.update(TERM="xterm-256color", COLUMNS="200")
        env.pop("NO_COLOR", None)
        if owner is not None:
            env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
        grader = [sys.executable, "-m", "grader", "run", "--config", str(config), "--assignment",
                  "micrograd", "--seed", "7"]

        code, term = _on_a_pty([*grader, str(single), "--results", str(base / "results.json")],
                               owner, base, env)
        text = term.decode("utf-8", "replace")
        assert code == 0, text
        _assert_clean("the terminal (one notebook, rich table)", text, RAW)
        assert "\\x1b]52;c;" in text and "\\u202e" in text and "[blink]MARKUP[/blink]" in text, text
        gradescope = (base / "results.json").read_text("utf-8")
        _assert_clean("Gradescope results.json", gradescope, FILE_RAW)
        _assert_clean("Gradescope results (decoded)", json.dumps(json.loads(gradescope), ensure_ascii=False),
                      FILE_RAW)

        code, term = _on_a_pty([*grader, str(subs), "--out", str(base / "out"), "-j", "1"], owner, base, env)
        text = term.decode("utf-8", "replace")
        assert code == 0, text
        _assert_clean("the terminal (batch: progress and summary)", text, RAW)
        assert "\\x1b]0;title\\x07\\u202e" in text, text
        folder = next((base / "out" / "submissions").iterdir())
        for name in ("feedback.md", "feedback.html", "result.json"):
            content = (folder / name).read_text("utf-8")
            _assert_clean(name, content, FILE_RAW)
            assert "x1b]52;c;ZWNobyBwd25lZA==" in content and "u202e" in content, name
        stored = json.loads((folder / "result.json").read_text("utf-8"))
        _assert_clean("result.json (decoded)", json.dumps(stored, ensure_ascii=False), FILE_RAW)
        messages = " ".join(p["message"] for q in stored["result"]["questions"] for p in q["parts"])
        assert messages.count("\\x1b]52;c;") >= 2, messages  # the probe of gradf and of numerical_grad
        assert any("\\x1b]52;c;" in note for note in stored["result"]["notes"])  # the cell's error
        grades = (base / "out" / "grades.csv").read_text("utf-8")
        _assert_clean("grades.csv", grades, FILE_RAW)
        row = next(csv.DictReader(grades.splitlines()))
        assert row["file"] == "mallory_\\x1b]0;title\\x07\\u202e_333.ipynb", row
        report = (base / "out" / "report.html").read_text("utf-8")
        _assert_clean("report.html", report, FILE_RAW)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
