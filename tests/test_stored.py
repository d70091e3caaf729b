"""What ``OUT`` holds, damaged: a stored result that cannot be read is named, kept in ``grades.csv``
(status ``damaged_result``) and graded again by the next ``grader run`` on its file; never dropped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from notebooks import write, write_small_config
from test_regrade import cli


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def test_a_damaged_stored_result_is_reported_listed_and_graded_again(tmp_path):
    config = write_small_config(tmp_path / "config")
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice_201_901_micrograd_exercises.ipynb", ["x = 1"])
    bob = write(subs / "bob_202_902_micrograd_exercises.ipynb", ["y = 2"])
    run = ["run", str(subs), "--out", str(out), "--config", str(config), "--assignment", "micrograd",
           "-j", "2", "--seed", "3"]
    code, _, err = cli(run)
    assert code == 0, err
    assert {sid: r["status"] for sid, r in _rows(out).items()} == {"201": "graded", "202": "graded"}

    alice = out / "submissions" / "201" / "result.json"
    alice.write_bytes(alice.read_bytes()[:200])              # cut short (a full disk, a crash)
    record = json.loads((out / "submissions" / "202" / "result.json").read_text())
    record["result"] = {"edited": "by hand"}                   # legible JSON, not a result
    (out / "submissions" / "202" / "result.json").write_text(json.dumps(record))
    bob.unlink()                                               # and bob's file is gone from subs

    code, stdout, err = cli(["report", str(out)])
    assert code == 4, err
    assert "the stored result of 201 (file unknown)" in err and "is not valid JSON" in err, err
    assert "the stored result of 202 (bob_202_902_micrograd_exercises.ipynb)" in err, err
    assert "is not a grader result" in err, err
    assert {sid: (r["status"], r["total"]) for sid, r in _rows(out).items()} == {
        "201": ("damaged_result", ""), "202": ("damaged_result", "")}
    assert "201" in (out / "report.html").read_text() and "202" in (out / "report.html").read_text()

    code, _, err = cli(run)                                    # alice's file is there: graded again
    assert code == 4, err                                      # bob's record is still damaged
    assert ("note: the stored result submissions/201/result.json is not valid JSON (JSONDecodeError): "
            "alice_201_901_micrograd_exercises.ipynb is graded again") in err, err
    assert "the stored result of 202" in err and "the stored result of 201" not in err, err
    rows = _rows(out)
    assert (rows["201"]["status"], rows["201"]["total"]) == ("graded", "0")
    assert rows["202"]["status"] == "damaged_result"
    assert json.loads(alice.read_text())["result"]["assignment"] == "micrograd"
