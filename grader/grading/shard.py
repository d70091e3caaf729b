"""Job arrays without a cluster engine: ``grader run … --shard I/N`` grades one deterministic part
of a class, and shards may write one ``OUT`` at the same time (or their own ``OUT``s, merged after).

A student belongs to shard ``1 + sha256(id) mod N``: the same on every machine, Python and run
(never Python's salted ``hash()``), and independent of which other students are in the folder.

Shards sharing ``OUT`` hold its lock *shared* (a plain batch, ``grader override`` and ``grader
report`` hold it exclusively, so they wait for every shard and no shard starts during them). Each
student's files belong to one shard and are written atomically; the class files (``grades.csv``,
``report.html``) are rebuilt from every stored result under a second lock, so the last shard to
finish writes the whole class, and until then the students no shard has reached are listed as not
graded. One run of a shard at a time (its own lock, exclusive), and one shard count per ``OUT``
(recorded by the first shard): a killed shard's kernels are reaped by the next run of the same
shard, never a live run's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from ..errors import UsageError
from ..gradebook.overrides import Override
from ..results import SubmissionResult
from ..sandbox.reap import kill_token
from ..gradebook.store import Store

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


def _hold(stack: contextlib.ExitStack, path: Path, mode: int, busy: str) -> None:
    """Take the lock file ``path`` (``fcntl.LOCK_SH`` or ``LOCK_EX``) without waiting, for as long
    as ``stack`` lasts; a lock held elsewhere is a ``UsageError`` saying ``busy``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    stack.callback(os.close, fd)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(busy) from None


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
        """Hold the folder's lock shared with the other shards and this shard's own lock exclusively
        (a second run of the same shard is refused: it would reap the first one's live kernels); a
        shard count other than the one the folder's shards use is refused; reap this shard's own
        leftovers."""
        self.state.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            _hold(stack, self.state / "lock", fcntl.LOCK_SH,
                  f"another grader command (a batch without --shard, an override or a report) is "
                  f"writing to {self.root}; run shard {self.shard} when it has finished")
            self._same_count()
            self.kernels.mkdir(parents=True, exist_ok=True)
            _hold(stack, self.kernels.parent / f"{self.kernels.name}.lock", fcntl.LOCK_EX,
                  f"shard {self.shard} is already being graded into {self.root} by another run; "
                  f"wait for it to finish (or kill it first: its kernels are reaped by the next run "
                  f"of shard {self.shard})")
            for token_file in self.kernels.iterdir():  # this shard's, from a run that was killed
                kill_token(token_file.name)
                token_file.unlink(missing_ok=True)
            yield self

    def _same_count(self) -> None:
        """Record the shard count on first use; refuse another one (its shards would overlap
        these: the same student graded by two runs at once). A batch without ``--shard``, a report
        or an override (which wait for every shard) clears the record."""
        path = shard_count_file(self)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".count.", suffix=".tmp")
            try:
                os.write(fd, f"{self.shard.count}\n".encode("ascii"))
                os.close(fd)
                os.link(tmp, path)  # atomic, and never replaces another shard's record
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        try:
            recorded = int(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return  # unreadable: nothing to compare with (the shard's own lock still holds)
        if recorded != self.shard.count:
            raise UsageError(f"--shard {self.shard}: the shards writing to {self.root} split the "
                             f"class into {recorded} (--shard I/{recorded}); use the same N, or "
                             f"another --out, or run a batch without --shard, a report or an "
                             f"override there first once every shard has finished")

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


def shard_count_file(store: Store) -> Path:
    """Where the shard count that ``store``'s shards use is recorded."""
    return store.state / "shards" / "count"


def merge(outs: Sequence[Path], into: Path) -> int:
    """Copy every student's record from the shards' own ``OUT``s into ``into`` (its lock held);
    returns how many students ``into`` now lists. A student found in several keeps the newest record
    that can be read; when none can, the newest damaged one is copied as it is, so ``into`` lists
    the student as ``damaged_result`` (and ``grader run`` grades them again). Overrides are the
    merged folder's own (``grader override`` on it): the shards' are not copied."""
    target = Store(into)
    records: dict[str, list[Path]] = {}
    for out in outs:
        folder = Path(out) / "submissions"
        if not folder.is_dir():
            raise UsageError(f"{out} is not a grader output folder (no submissions/ in it)")
        for record in folder.glob("*/result.json"):
            records.setdefault(record.parent.name, []).append(record)
    if Path(into).resolve() in {Path(o).resolve() for o in outs}:
        raise UsageError(f"--out {into} is one of the folders being merged; merge into a new folder")
    with target.locked("merge"):
        for sid, found in sorted(records.items()):
            found.sort(key=_mtime, reverse=True)
            for record in found:
                stored = Store(record.parents[2]).record(sid)
                if stored is not None:
                    target.save(sid, stored[0], stored[1])
                    break
            else:
                _copy_damaged(found[0], target.folder(sid) / "result.json")
        target.rebuild()
    return len(records)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


def _copy_damaged(source: Path, path: Path) -> None:
    """``source``'s bytes (what can be read of them) at ``path``, written atomically."""
    try:
        data = source.read_bytes()
    except OSError:
        data = b""  # still a damaged record: listed, never a grade
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = ["Shard", "SharedStore", "merge", "parse_shard", "select", "shard_of"]
