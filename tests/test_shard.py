"""Shards on one OUT without a cluster engine: a second run of a shard that is running, or a shard
count other than the folder's, is refused before anything is touched (it would reap the first run's
live kernels, or grade the same students at once); `grader merge` keeps the newest record that can
be read, and lists a student whose every record is damaged as damaged_result."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.grading.shard import Shard, SharedStore, shard_of
from grader.gradebook.store import Store
from notebooks import write, write_small_config
from test_regrade import cli

IDS = ("201", "202", "203")


def _class(tmp_path: Path) -> tuple[Path, Path]:
    config = write_small_config(tmp_path / "config")
    subs = tmp_path / "subs"
    for n, sid in enumerate(IDS):
        write(subs / f"s{n}_{sid}_90{n}_micrograd_exercises.ipynb", [f"x = {n}"])
    return subs, config


def _run(subs: Path, config: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli(["run", str(subs), "--out", str(out), "--config", str(config), "--assignment",
                "micrograd", "--seed", "3", "-j", "2", *extra])


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
            for p in sorted(root.rglob("*"))}


def test_a_running_shard_or_another_shard_count_is_refused_and_nothing_changes(tmp_path):
    subs, config = _class(tmp_path)
    out = tmp_path / "out"
    mine = [sid for sid in IDS if shard_of(sid, 2) == 2]
    running = SharedStore(out, Shard(2, 2))
    with running.locked():  # shard 2/2 is being graded: one of its kernels is alive
        live = running.kernels / "grader-live-kernel-token"
        live.touch()
        before = _snapshot(out)
        code, _, err = _run(subs, config, out, "--shard", "2/2")
        assert code == 2, err
        assert f"shard 2/2 is already being graded into {out} by another run" in err, err
        code, _, err = _run(subs, config, out, "--shard", "1/3")
        assert code == 2, err
        assert "split the class into 2 (--shard I/2)" in err, err
        assert _snapshot(out) == before and live.exists()  # nothing reaped, nothing written
        live.unlink()
        code, _, err = _run(subs, config, out, "--shard", "1/2")  # the other shard runs beside it
        assert code == 0, err
    code, _, err = _run(subs, config, out, "--shard", "2/2")  # and shard 2 when it has finished
    assert code == 0, err
    assert {sid: r["status"] for sid, r in _rows(out).items()} == dict.fromkeys(IDS, "graded")
    assert mine and all((out / "submissions" / sid / "result.json").exists() for sid in mine)
    code, _, err = _run(subs, config, out, "--shard", "1/3")  # the count binds until a plain use
    assert code == 2 and "split the class into 2" in err, err
    code, _, err = _run(subs, config, out)  # a batch without --shard: every student is current
    assert code == 0, err
    with SharedStore(out, Shard(1, 3)).locked():  # then another count may start
        pass


def test_two_runs_of_one_shard_exclude_each_other_but_not_the_other_shards(tmp_path):
    out = tmp_path / "out"
    with SharedStore(out, Shard(1, 3)).locked(), SharedStore(out, Shard(3, 3)).locked():
        with pytest.raises(UsageError, match="shard 1/3 is already being graded"):
            with SharedStore(out, Shard(1, 3)).locked():
                pass
        with pytest.raises(UsageError, match=r"split the class into 3 \(--shard I/3\)"):
            with SharedStore(out, Shard(2, 4)).locked():
                pass
        with SharedStore(out, Shard(2, 3)).locked():  # the third shard joins them
            pass
    with Store(out).locked("report"):  # every shard has finished: the count is forgotten
        pass
    with SharedStore(out, Shard(2, 4)).locked():
        pass


def test_merge_keeps_the_newest_readable_record_and_lists_the_all_damaged(tmp_path):
    subs, config = _class(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, err = _run(subs, config, one)
    assert code == 0, err
    shutil.copytree(one, two)
    graded = {sid: r["total"] for sid, r in _rows(one).items()}
    record = lambda out, sid: out / "submissions" / sid / "result.json"  # noqa: E731
    later = time.time() + 60
    record(two, "201").write_text("{ cut short")               # the newer copy of 201 is damaged
    os.utime(record(two, "201"), (later, later))
    record(one, "202").write_text("{}")                        # every copy of 202 is damaged
    record(two, "202").write_bytes(b"\xff not json")
    os.utime(record(two, "202"), (later, later))

    into = tmp_path / "all"
    code, stdout, err = cli(["merge", str(one), str(two), "--out", str(into)])
    assert code == 4, err
    assert "merged 3 students" in stdout, stdout
    assert "the stored result of 202" in err and "damaged_result" in err, err
    assert "the stored result of 201" not in err, err
    rows = _rows(into)
    assert {sid: r["status"] for sid, r in rows.items()} == {
        "201": "graded", "202": "damaged_result", "203": "graded"}
    assert rows["201"]["total"] == graded["201"] and rows["203"]["total"] == graded["203"]
    assert json.loads(record(into, "201").read_text())["result"]["assignment"] == "micrograd"
    assert record(into, "202").read_bytes() == b"\xff not json"  # the newest damaged copy
