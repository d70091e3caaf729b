"""Job arrays without a cluster engine: ``grader run … --shard I/N`` grades one deterministic part
of a class, and shards may write one ``OUT`` at the same time (or their own ``OUT``s, merged after).

A student belongs to shard ``1 + sha256(id) mod N``: the same on every machine, Python and run
(never Python's salted ``hash()``), and independent of which other students are in the folder.

Shards sharing ``OUT`` hold its lock *shared* (a plain batch, ``grader override`` and ``grader
report`` hold it exclusively, so they wait for every shard and no shard starts during them). Each
student's files belong to one shard and are written atomically; the class files (``grades.csv``,
``report.html``) are rebuilt from every stored result under a second lock, so the last shard to
finish writes the whole class, and until then the students no shard has reached are listed as not
graded. A killed shard's kernels are reaped by the next run of the same shard.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from .errors import UsageError
from .overrides import Override
from .results import SubmissionResult
from .sandbox.reap import kill_token
from .store import Store

T = TypeVar("T")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as Slurm's and Kubernetes' array indexes are given)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, sid: str) -> bool:
        return shard_of(sid, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"2/8"`` as a :class:`Shard`; a UsageError naming the mistake otherwise."""
    match = _SHARD.match(text)
    if not match:
        raise UsageError(f"--shard {text!r}: give it as I/N, e.g. --shard 2/8 (shard 2 of 8)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text}: I must be between 1 and N (shards are numbered from 1; "
                         f"a Kubernetes JOB_COMPLETION_INDEX starts at 0: add 1)")
    return Shard(index, count)


def shard_of(sid: str, count: int) -> int:
    """The shard (1…count) that grades student ``sid``: a stable hash of the id."""
    digest = hashlib.sha256(sid.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(items: Sequence[T], shard: Shard, key: Callable[[T], str]) -> list[T]:
    """The items of ``shard``, in their order."""
    return [item for item in items if shard.holds(key(item))]


class SharedStore(Store):
    """An output folder that several shards write at once.

    ``everyone`` is every ``(id, file)`` of the class (all shards): those not stored yet are listed
    as not graded, so ``grades.csv`` always has the whole class.
    """

    def __init__(self, root: Path, shard: Shard, everyone: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(root)
        self.shard = shard
        self.everyone = list(everyone)
        self.kernels = self.state / "shards" / f"{shard.index}-of-{shard.count}"
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def locked(self, what: str = "grader batch") -> Iterator[Store]:
        """Hold the folder's lock shared with the other shards; reap this shard's own leftovers."""
        self.kernels.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"another grader command (a batch without --shard, an override "
                                 f"or a report) is writing to {self.root}; run shard {self.shard} "
                                 f"when it has finished") from None
            for token_file in self.kernels.iterdir():  # this shard's, from a run that was killed
                kill_token(token_file.name)
                token_file.unlink(missing_ok=True)
            yield self
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _class_files(self) -> Iterator[None]:
        """One shard at a time rebuilds the class files (re-entrant within a shard)."""
        if self._depth == 0:
            self.state.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.state / "rebuild.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _pending(self, pending: Iterable[tuple[str, str]],
                 stored: Sequence[tuple[str, str, SubmissionResult]]) -> list[tuple[str, str]]:
        done = {sid for sid, _, _ in stored}
        return [p for p in dict.fromkeys([*pending, *self.everyone]) if p[0] not in done]

    def save(self, sid: str, file: str, result: SubmissionResult,
             overrides: Sequence[Override] = ()) -> None:
        with self._class_files():  # never between another shard's read of a record and its render
            super().save(sid, file, result, overrides)

    def rebuild(self, question_ids: Sequence[str] = (),
                pending: Iterable[tuple[str, str]] = ()) -> Path:
        with self._class_files():
            return super().rebuild(question_ids, self._pending(pending, self.stored()))

    def write_report(self, question_ids: Sequence[str] = (), pending: Iterable[tuple[str, str]] = (),
                     progress: tuple[int, int] | None = None, *,
                     stored: list[tuple[str, str, SubmissionResult]] | None = None,
                     overrides: dict[str, list[Override]] | None = None) -> Path:
        with self._class_files():
            stored = self.stored() if stored is None else stored
            if progress is not None:  # the class's progress, not this shard's
                progress = (len(stored), len({sid for sid, _ in self.everyone} | {s for s, _, _ in stored}))
            return super().write_report(question_ids, self._pending(pending, stored), progress,
                                        stored=stored, overrides=overrides)


def merge(outs: Sequence[Path], into: Path) -> int:
    """Copy every student's record from the shards' own ``OUT``s into ``into`` (its lock held);
    returns how many. A student found in two of them keeps the newer record. Overrides are the
    merged folder's own (``grader override`` on it): the shards' are not copied."""
    target = Store(into)
    records: dict[str, Path] = {}
    for out in outs:
        folder = Path(out) / "submissions"
        if not folder.is_dir():
            raise UsageError(f"{out} is not a grader output folder (no submissions/ in it)")
        for record in folder.glob("*/result.json"):
            sid = record.parent.name
            if sid not in records or record.stat().st_mtime > records[sid].stat().st_mtime:
                records[sid] = record
    if Path(into).resolve() in {Path(o).resolve() for o in outs}:
        raise UsageError(f"--out {into} is one of the folders being merged; merge into a new folder")
    with target.locked("merge"):
        for sid, record in sorted(records.items()):
            stored = Store(record.parents[2]).record(sid)
            if stored is None:
                continue
            target.save(sid, stored[0], stored[1])
        target.rebuild()
    return len(records)


__all__ = ["Shard", "SharedStore", "merge", "parse_shard", "select", "shard_of"]
