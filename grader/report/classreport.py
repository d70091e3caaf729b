"""``OUT/report.html``: how the class did and what went wrong, in one self-contained page.

Made from the stored results alone (the grader's own verdicts, with the instructor's overrides
applied for every score shown), so it can be rebuilt at any time without grading anything. The
statistics count every submission that has a score in ``grades.csv`` (graded or rejected);
grader errors and submissions not graded yet are listed, never counted.
"""

from __future__ import annotations

import datetime
import statistics
from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Sequence
from urllib.parse import quote

from .. import __version__
from ..gradebook.overrides import PART, Override, apply_overrides
from ..results import Status, SubmissionResult, printable_text
from ..results import points as number  # two decimals, as the terminal and the feedback
from .failures import failure_kinds
from .gradebook import NOT_GRADED
from .svg import Spread, bar_chart, box_strip, share_bar
from .webpage import page

REPORT = "report.html"
KINDS_SHOWN = 8      # failure kinds listed per question; the rest are counted
SLOWEST_SHOWN = 5


@dataclass(frozen=True)
class Entry:
    """One stored submission: the grader's own result and the overrides that apply to it."""

    id: str
    file: str
    result: SubmissionResult
    overrides: tuple[Override, ...] = ()

    @property
    def final(self) -> SubmissionResult:
        return apply_overrides(self.result, self.overrides)

    def grader_score(self, qid: str) -> float | None:
        """The grader's own score on ``qid`` when an override replaced it, else None."""
        if not any(o.question == qid for o in self.overrides):
            return None
        return next((q.score for q in self.result.questions if q.id == qid), None)


def _e(text: object) -> str:
    return escape(printable_text(str(text)), quote=True)


def _stat(x: float) -> str:
    return f"{round(x, 2):g}"


def _anchor(sid: str) -> str:
    return "s-" + quote(sid, safe="")


def _link(sid: str) -> str:
    return f'<a href="#{_e(_anchor(sid))}">{_e(sid)}</a>'


def _spread(values: Sequence[float], top: float) -> Spread:
    quartiles = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 \
        else [values[0]] * 3
    return Spread(min(values), quartiles[0], statistics.median(values), quartiles[2], max(values),
                  statistics.fmean(values), top)


def _stats_line(s: Spread, n: int) -> str:
    items = [("submissions", str(n)), ("mean", _stat(s.mean)), ("median", _stat(s.median)),
             ("Q1", _stat(s.q1)), ("Q3", _stat(s.q3)), ("min", _stat(s.low)), ("max", _stat(s.high)),
             ("out of", _stat(s.top))]
    return '<p class="stats">' + "".join(f"<span>{k}: <b>{v}</b></span>" for k, v in items) + "</p>"


def _last_line(text: str) -> str:
    """A traceback's last line: the exception (the whole traceback is in ``result.json``)."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _counted(values: Sequence[str]) -> str:
    counts = Counter(values)
    if len(counts) == 1:
        return _e(next(iter(counts)))
    return "<br>".join(f"{_e(v)} ({n} submission{'' if n == 1 else 's'})" for v, n in counts.most_common())


def _header(entries: Sequence[Entry], pending: Sequence[tuple[str, str]],
            progress: tuple[int, int] | None, now: str) -> str:
    results = [e.result for e in entries]
    status = Counter(r.status for r in results)
    digests = [r.key.get("config_sha256", "")[:12] or "not recorded" for r in results]
    rows = [("Assignment", _counted([r.assignment for r in results]) if results else "—"),
            ("Report made", _e(now)),
            ("Grader version", _e(__version__) + (
                f" (results graded by {_counted([r.grader_version for r in results])})"
                if {r.grader_version for r in results} - {__version__} else "")),
            ("Config digest (sha256)", _counted(digests) if results else "—"),
            ("Isolation", _counted([r.isolation for r in results if r.isolation])  # rejected: no kernel
             if any(r.isolation for r in results) else "—"),
            ("Submissions", f"{len(entries) + len(pending)}: <b>{status['graded']}</b> graded, "
                            f"<b>{status['rejected']}</b> rejected, <b>{status['grader_error']}</b> "
                            f"grader errors, <b>{len(pending)}</b> not graded yet")]
    out = ['<h1>Class report: ' + (_e(", ".join(sorted({r.assignment for r in results}))) or "—")
           + "</h1>"]
    if progress is not None:
        out.append(f'<p class="live">Grading in progress: {progress[0]} of {progress[1]} '
                   f'submissions of this run done. This page reloads every 10 seconds and is '
                   f'complete when this box is gone.</p>')
    out.append('<table class="meta">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>"
                                                for k, v in rows) + "</table>")
    problems = [(e, "rejected", e.result.error or "") for e in entries if e.result.status == "rejected"]
    problems += [(e, "grader error", _last_line(e.result.internal_error or ""))
                 for e in entries if e.result.status == "grader_error"]
    if problems:
        out.append("<h3>Could not be graded</h3><table><tr><th>student</th><th>file</th>"
                   "<th>status</th><th>reason</th></tr>")
        for e, what, reason in problems:
            out.append(f'<tr><td>{_link(e.id)}</td><td class="file">{_e(e.file)}</td>'
                       f'<td>{what}</td><td>{_e(reason)}</td></tr>')
        out.append("</table>")
    if pending:
        what = "Still to grade in this run" if progress else \
            "Not graded yet (run <code>grader run</code> again to finish)"
        out.append(f'<p class="note">{what}: {", ".join(_link(sid) for sid, _ in pending)}</p>')
    return "\n".join(out)


def _totals(scored: Sequence[Entry], top: float) -> str:
    out = ['<section><h2 id="totals">Total scores</h2>']
    if not scored:
        return out[0] + "<p>No scores yet.</p></section>"
    totals = [e.final.score for e in scored]
    bins = 10
    counts = [0] * bins
    for t in totals:
        counts[min(bins - 1, int(t / top * bins)) if top else 0] += 1
    labels = [f"{number(top * i / bins)}–{number(top * (i + 1) / bins)}" for i in range(bins)]
    spread = _spread(totals, top)
    out += [_stats_line(spread, len(totals)),
            bar_chart(labels, counts, f"Histogram of total scores, out of {number(top)}"),
            box_strip(spread, "Total scores: quartiles, median (thick line), mean (diamond)")]
    lowest = [e for e in sorted(scored, key=lambda e: (e.final.score, e.id))
              if e.final.score < top - 1e-9][:5]
    out.append('<p class="note">Lowest totals: ' + (", ".join(
        f"{_link(e.id)} ({number(e.final.score)})" for e in lowest) or "none below full marks")
        + "</p></section>")
    return "\n".join(out)


def _question(qid: str, title: str, top: float, scored: Sequence[Entry],
              graded: Sequence[Entry]) -> str:
    finals = [next((q for q in e.final.questions if q.id == qid), None) for e in scored]
    answered = [q for q in finals if q is not None]
    scores = [q.score for q in answered]
    out = [f'<section><h2 id="{_e("q-" + qid)}">{_e(qid)}: {_e(title)} ({number(top)} points)</h2>']
    if not scores:
        return out[0] + "<p>No scores yet.</p></section>"
    full = sum(s >= top - 1e-9 for s in scores)
    zero = sum(s <= 1e-9 for s in scores)
    missing = sum(q.status is Status.MISSING for q in answered)
    n = len(scores)

    def pct(k: int) -> str:
        return f"{100 * k / n:.0f}%"

    out.append(f'<p class="stats"><span>full: <b>{full}</b> ({pct(full)})</span>'
               f'<span>partial: <b>{n - full - zero}</b> ({pct(n - full - zero)})</span>'
               f'<span>zero: <b>{zero}</b> ({pct(zero)}; no answer at all: {missing})</span>'
               f'<span>mean: <b>{_stat(statistics.fmean(scores))}</b></span>'
               f'<span>median: <b>{_stat(statistics.median(scores))}</b></span></p>')
    out.append(share_bar([("full", full), ("partial", n - full - zero), ("zero", zero)],
                         f"{qid}: full {full}, partial {n - full - zero}, zero {zero}"))
    edges = [top * k / 4 for k in range(1, 4)]
    labels = ["0", *(f"≤{number(x)}" for x in edges), f"<{number(top)}", f"{number(top)} (full)"]
    counts = [0] * 6
    for s in scores:
        if s <= 1e-9:
            counts[0] += 1
        elif s >= top - 1e-9:
            counts[5] += 1
        else:
            counts[1 + sum(s > x + 1e-9 for x in edges)] += 1
    out.append(bar_chart(labels, counts, f"{qid}: how many students scored how much",
                         height=150, highlight=[False] * 5 + [True]))
    kinds = failure_kinds(qid, [(e.id, e.result) for e in graded], skip_parts=[PART])
    if kinds:
        out.append(f"<h3>Most common failures ({len(kinds)} kind{'s' * (len(kinds) != 1)})</h3>")
    for kind in kinds[:KINDS_SHOWN]:
        who = kind.students
        sample = kind.sample if len(kind.sample) <= 400 else kind.sample[:400] + " …"
        out.append(f'<div class="kind"><b>{len(who)} student{"s" * (len(who) != 1)}</b>: '
                   f'<span class="label">{_e(kind.label)}</span>'
                   f'<div class="sample">for example {_e(who[0])}: {_e(sample)}</div>'
                   f'<div class="who">{" ".join(_link(s) for s in who[:40])}'
                   f'{f" … and {len(who) - 40} more" if len(who) > 40 else ""}</div></div>')
    rest = kinds[KINDS_SHOWN:]
    if rest:
        out.append(f'<p class="note">{len(rest)} other kinds, met by '
                   f'{len({s for k in rest for s in k.students})} students.</p>')
    return "\n".join(out) + "</section>"


def _students(entries: Sequence[Entry], pending: Sequence[tuple[str, str]],
              questions: Sequence[str]) -> str:
    head = "".join(f'<th class="num">{_e(q)}</th>' for q in questions)
    out = ['<section><h2 id="students">Students</h2>',
           '<p class="note">In the order of <code>grades.csv</code>. ✎ marks an instructor override, '
           "with the grader's own score beside it. Each id links to that student's feedback.</p>",
           f'<table id="student-table"><tr><th>id</th><th>file</th>{head}<th class="num">total</th>'
           "<th>status</th></tr>"]
    rows = [(e.id, e.file, e) for e in entries] + [(sid, file, None) for sid, file in pending]
    for sid, file, e in sorted(rows, key=lambda r: r[0]):
        folder = "submissions/" + quote(sid, safe="")
        links = (f'<a href="{_e(folder)}/feedback.html">{_e(sid)}</a> '
                 f'<a class="note" href="{_e(folder)}/feedback.md">md</a>') if e else _e(sid)
        cells = []
        final = e.final if e else None
        for qid in questions:
            q = next((q for q in final.questions if q.id == qid), None) if final else None
            own = e.grader_score(qid) if e else None
            why = next((o.reason for o in e.overrides if o.question == qid), "") if e else ""
            mark = (f' <span class="ovr">✎ grader {number(own)}</span><br><span class="note">{_e(why)}</span>'
                    if own is not None else "")
            cells.append(f'<td class="num">{number(q.score) if q else ""}{mark}</td>')
        total = number(final.score) if final else ""
        status = final.status if final else NOT_GRADED
        css = ' class="bad"' if status != "graded" else ""
        out.append(f'<tr id="{_e(_anchor(sid))}"><td>{links}</td><td class="file">{_e(file)}</td>'
                   f'{"".join(cells)}<td class="num"><b>{total}</b></td><td{css}>{_e(status)}</td></tr>')
    return "\n".join(out) + "</table></section>"


def _timing(graded: Sequence[Entry]) -> str:
    out = ['<section><h2 id="time">Grading time</h2>']
    times = [e.result.execution_time for e in graded]
    if not times:
        return out[0] + "<p>Nothing graded yet.</p></section>"
    out.append(f'<p class="stats"><span>median: <b>{statistics.median(times):.1f} s</b></span>'
               f'<span>slowest: <b>{max(times):.1f} s</b></span>'
               f'<span>all together: <b>{sum(times):.0f} s</b></span></p>')
    out.append('<table><tr><th>student</th><th class="num">seconds</th><th>file</th></tr>')
    for e in sorted(graded, key=lambda e: (-e.result.execution_time, e.id))[:SLOWEST_SHOWN]:
        out.append(f'<tr><td>{_link(e.id)}</td><td class="num">{e.result.execution_time:.1f}</td>'
                   f'<td class="file">{_e(e.file)}</td></tr>')
    return "\n".join(out) + "</table></section>"


def class_report(entries: Sequence[Entry], question_ids: Sequence[str] = (),
                 pending: Sequence[tuple[str, str]] = (), *,
                 progress: tuple[int, int] | None = None, now: str | None = None) -> str:
    """The whole report page for the stored ``entries`` (and ``pending`` ``(id, file)`` without
    a result); with ``progress`` (done, total) it says a batch is still running and reloads."""
    now = now or datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    stored = {e.id for e in entries}
    pending = [(sid, file) for sid, file in pending if sid not in stored]
    titles: dict[str, tuple[str, float]] = {}
    for e in entries:
        for q in e.result.questions:
            titles.setdefault(q.id, (q.title, q.max_score))
    questions = list(dict.fromkeys([*question_ids, *titles]))
    scored = [e for e in entries if e.result.status != "grader_error"]
    graded = [e for e in entries if e.result.status == "graded"]
    top = max((e.result.max_score for e in scored), default=0.0)
    body = [_header(entries, pending, progress, now),
            '<p class="note">Sections: <a href="#totals">total scores</a> · ' +
            " · ".join(f'<a href="#{_e("q-" + q)}">{_e(q)}</a>' for q in questions) +
            ' · <a href="#students">students</a> · <a href="#time">grading time</a></p>',
            _totals(scored, top)]
    body += [_question(q, *titles.get(q, ("", 0.0)), scored, graded) for q in questions]
    body += [_students(entries, pending, questions), _timing(graded)]
    title = "Class report: " + ", ".join(sorted({e.result.assignment for e in entries}))
    return page(title, "\n".join(body), refresh=10 if progress is not None else None)


__all__ = ["Entry", "REPORT", "class_report"]
