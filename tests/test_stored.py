"""Nothing dropped from ``grades.csv``: a stored result in ``OUT`` that cannot be read is named, kept
(status ``damaged_result``) and graded again by the next ``grader run`` on its file; every member
of a class zip that is not graded (a path leaving the archive, a link, not a notebook, a second
file of the same student) has a row of its own, rejected, saying why."""

from __future__ import annotations

import csv
import json
import stat
import zipfile
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


def test_every_zip_member_not_graded_gets_a_rejected_row_saying_why(tmp_path):
    config = write_small_config(tmp_path / "config")
    notebook = write(tmp_path / "nb.ipynb", ["x = 1"]).read_bytes()
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("alice_201_1_micrograd_exercises.ipynb", (2026, 3, 1, 9, 0, 0)), notebook)
        zf.writestr(zipfile.ZipInfo("alice_201_2_micrograd_exercises.ipynb", (2026, 3, 2, 9, 0, 0)), notebook)
        zf.writestr("../evil_106_906_micrograd_exercises.ipynb", notebook)
        zf.writestr("/abs/carol_107_907_micrograd_exercises.ipynb", notebook)
        link = zipfile.ZipInfo("dave_108_908_micrograd_exercises.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/shadow")
        zf.writestr("erin_109_909_notes.txt", "I ran out of time")
    out = tmp_path / "out"

    code, stdout, err = cli(["run", str(archive), "--out", str(out), "--config", str(config),
                             "--assignment", "micrograd", "--seed", "3"])

    assert code == 0, err
    rows = _rows(out)
    assert {sid: r["status"] for sid, r in rows.items()} == {
        "201": "graded", "201~2": "rejected", "106": "rejected", "abs": "rejected",
        "108": "rejected", "109": "rejected"}
    assert rows["201"]["file"] == "class.zip:alice_201_2_micrograd_exercises.ipynb"  # the newer
    errors = {sid: json.loads((out / "submissions" / sid / "result.json").read_text())["result"]["error"]
              for sid in rows if sid != "201"}
    assert errors["201~2"] == ("class.zip:alice_201_1_micrograd_exercises.ipynb is another submission "
                               "of student 201: class.zip:alice_201_2_micrograd_exercises.ipynb is "
                               "graded instead (of several, a readable notebook named like the "
                               "assignment, then the newest)")
    assert errors["106"] == ("class.zip:../evil_106_906_micrograd_exercises.ipynb has a path outside "
                             "the archive's folder (../ or absolute): not read")
    assert errors["abs"].startswith("class.zip:/abs/carol_107_907_micrograd_exercises.ipynb has a path outside")
    assert errors["108"].endswith("is a symbolic link; links are not followed")
    assert errors["109"].endswith("is not a notebook (.ipynb): there is nothing to grade; submit the .ipynb file")
    assert not (tmp_path / "evil_106_906_micrograd_exercises.ipynb").exists()
