"""Exit codes: one enum (grader.errors.Exit) that every --help prints from, the README's table and
docs/batch.md's checked against it, and one mapping of failures for both command lines."""

from __future__ import annotations

import re

import pytest

from grader.cli import exits, main
from grader.cli.app import COMMANDS, build_parser
from grader.errors import ConfigError, Exit, GraderError, KernelStartError, UsageError, reporting
from grader.gradescope.__main__ import main as gradescope_main
from notebooks import ROOT

RUN_CODES = {code for code, _ in exits.RUN}
OTHER_CODES = {code for table in (exits.OUT, exits.EXPORT, exits.BUILD, exits.WRITE, exits.CONFIG,
                                  exits.CHECK) for code, _ in table}


def _table(text: str, heading: str) -> dict[int, list[str]]:
    """The rows (code → cells) of the first table (header ``| code |``) after ``heading``."""
    rest = text[text.index(heading):]
    rows: dict[int, list[str]] = {}
    for line in rest[rest.index("| code |"):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[int(cells[0])] = cells[1:]
    return rows


def _helps() -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(parser: object, path: str) -> None:
        found[path] = parser.format_help()  # type: ignore[attr-defined]
        for action in parser._actions:  # type: ignore[attr-defined]
            for name, child in (getattr(action, "choices", None) or {}).items():
                if hasattr(child, "format_help"):
                    walk(child, f"{path} {name}".strip())
    walk(build_parser(), "")
    return found


def test_every_help_prints_its_exit_codes_from_the_enum():
    for path, text in _helps().items():
        if "exit codes" not in text:
            assert path in ("export", "build") or not path, path
            continue
        table = text.split("exit codes", 1)[1].split("\n\n")[0]
        codes = [int(c) for c in re.findall(r"^  (\d+) ", table, re.MULTILINE)]
        assert codes and all(c in set(Exit) for c in codes), (path, codes)
        assert codes == sorted(codes), path
    assert [c.name for c in COMMANDS] == ["run", "override", "export", "report", "merge",
                                          "sandbox-check", "check-config", "build"]


def test_the_readme_table_is_the_enum():
    rows = _table((ROOT / "README.md").read_text(encoding="utf-8"), "Exit codes (each command")
    assert set(rows) == {int(c) for c in Exit}
    assert {code for code, (run, _) in rows.items() if run != "—"} == RUN_CODES
    assert {code for code, (_, other) in rows.items() if other != "—"} == OTHER_CODES | {Exit.INTERRUPTED}


def test_the_batch_guide_table_is_the_run_codes():
    rows = _table((ROOT / "docs" / "batch.md").read_text(encoding="utf-8"), "## Exit codes")
    assert set(rows) == RUN_CODES


def test_errors_carry_their_code_from_the_enum():
    assert (GraderError.exit_code, ConfigError.exit_code, UsageError.exit_code,
            KernelStartError.exit_code) == (Exit.FAILED, Exit.USAGE, Exit.USAGE, Exit.NO_KERNEL)


def test_one_mapping_says_a_failure_and_gives_its_code():
    said: list[str] = []

    def fail(exc: BaseException) -> int:
        def step() -> int:
            raise exc
        return reporting(step, "grader", said.append)

    assert fail(UsageError("no such file")) == 2 and said[-1] == "grader: error: no such file"
    assert fail(GraderError("build broke")) == 1 and said[-1] == "grader: error: build broke"
    assert fail(KernelStartError("no kernel")) == 3
    assert fail(KeyboardInterrupt()) == 130 and said[-1] == "grader: interrupted"
    assert reporting(lambda: Exit.INTERNAL, "grader", said.append) == 4 and len(said) == 4
    with pytest.raises(ZeroDivisionError):  # a grader bug is not dressed up as a usage error
        fail(ZeroDivisionError())


def test_both_command_lines_use_it(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.ipynb")]) == 2
    assert capsys.readouterr().err == f"grader: error: no such file or folder: {tmp_path / 'absent.ipynb'}\n"
    code = gradescope_main(["setup", "--source", str(tmp_path)])
    assert code == 2 and type(code) is int
    err = capsys.readouterr().err
    assert err.startswith("grader setup: error: ") and "assignments.yml" in err, err
