"""Hand-written SVG plots for the class report: bars with their counts written on them, a box strip.

Text stays text (searchable, printed sharp, read aloud); every shape has its number beside it, so
the plots read in black and white. Every string is escaped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Sequence

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {_FONT}>'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def bar_chart(labels: Sequence[str], counts: Sequence[int], title: str, *,
              width: int = 560, height: int = 170, highlight: Sequence[bool] = ()) -> str:
    """One bar per label, its count above it, the label below; ``highlight`` darkens bars."""
    n = max(1, len(labels))
    top, bottom, left = 18, 34, 4
    slot = (width - 2 * left) / n
    plot = height - top - bottom
    peak = max([1, *counts])
    body = [f'<line x1="{left}" y1="{top + plot}" x2="{width - left}" y2="{top + plot}" '
            'stroke="#444" stroke-width="1"/>']
    for i, (label, count) in enumerate(zip(labels, counts)):
        h = plot * count / peak
        x = left + i * slot + slot * 0.12
        dark = i < len(highlight) and highlight[i]
        if count:
            body.append(f'<rect x="{_num(x)}" y="{_num(top + plot - h)}" width="{_num(slot * 0.76)}" '
                        f'height="{_num(h)}" fill="{"#3f5f8f" if dark else "#8aa4c8"}" '
                        'stroke="#223" stroke-width="0.6"/>')
        mid = _num(left + (i + 0.5) * slot)
        body.append(f'<text x="{mid}" y="{_num(top + plot - h - 4)}" text-anchor="middle" '
                    f'font-weight="bold">{count}</text>')
        body.append(f'<text x="{mid}" y="{top + plot + 15}" text-anchor="middle" '
                    f'font-size="11">{escape(label)}</text>')
    return _svg(width, height, title, body)


@dataclass(frozen=True)
class Spread:
    """Where scores lie on ``0..top``: lowest, quartiles, median, mean, highest."""

    low: float
    q1: float
    median: float
    q3: float
    high: float
    mean: float
    top: float


def box_strip(s: Spread, title: str, *, width: int = 560, height: int = 66) -> str:
    """A box plot on the same scale as a histogram of ``0..top``, each mark labelled with its value
    (rounded to 2 decimals, as the statistics beside it)."""
    span = width - 8  # the span of bar_chart's bars, so that both share one scale

    def at(v: float) -> str:
        return _num(4 + span * (min(max(v, 0.0), s.top) / s.top if s.top else 0.0))

    y = 22
    body = [
        f'<line x1="{at(s.low)}" y1="{y}" x2="{at(s.high)}" y2="{y}" stroke="#222"/>',
        f'<line x1="{at(s.low)}" y1="{y - 6}" x2="{at(s.low)}" y2="{y + 6}" stroke="#222"/>',
        f'<line x1="{at(s.high)}" y1="{y - 6}" x2="{at(s.high)}" y2="{y + 6}" stroke="#222"/>',
        f'<rect x="{at(s.q1)}" y="{y - 9}" width="{_num(float(at(s.q3)) - float(at(s.q1)))}" '
        f'height="18" fill="#dde6f3" stroke="#222"/>',
        f'<line x1="{at(s.median)}" y1="{y - 9}" x2="{at(s.median)}" y2="{y + 9}" stroke="#000" '
        'stroke-width="2.5"/>',
        f'<path d="M{at(s.mean)} {y - 5} l5 5 l-5 5 l-5 -5 z" fill="#fff" stroke="#000"/>',
    ]
    rows = ([("min", s.low), ("median", s.median), ("max", s.high)], [("Q1", s.q1), ("Q3", s.q3)])
    if s.high - s.low < 1e-9:  # every score the same: one label, not six on top of each other
        (x,) = _spread_out([float(at(s.low))], [f"every score {round(s.low, 2):g}"], width)
        body.append(f'<text x="{_num(x)}" y="{y + 24}" text-anchor="middle" font-size="11">'
                    f"every score {round(s.low, 2):g}</text>")
        return _svg(width, height, title, body)
    for y_text, marks in zip((y + 24, y + 38), rows):
        labels = [f"{name} {round(value, 2):g}" for name, value in marks]
        body += [f'<text x="{_num(x)}" y="{y_text}" text-anchor="middle" font-size="11">'
                 f"{escape(text)}</text>"
                 for x, text in zip(_spread_out([float(at(v)) for _, v in marks], labels, width),
                                    labels)]
    mean = f"mean {round(s.mean, 2):g}"
    (x,) = _spread_out([float(at(s.mean))], [mean], width)
    body.append(f'<text x="{_num(x)}" y="{y - 12}" text-anchor="middle" font-size="11">'
                f"{escape(mean)}</text>")
    return _svg(width, height, title, body)


def _spread_out(xs: list[float], labels: list[str], width: int) -> list[float]:
    """Centres for ``labels`` near ``xs`` (ascending) that neither overlap nor leave the plot."""
    half = [3.2 * len(t) + 3 for t in labels]   # about half a label's width at font-size 11
    out = list(xs)
    for i in range(len(out)):
        low = half[i] if i == 0 else out[i - 1] + half[i - 1] + half[i]
        out[i] = max(out[i], low)
    for i in reversed(range(len(out))):
        high = width - half[i] if i == len(out) - 1 else out[i + 1] - half[i + 1] - half[i]
        out[i] = min(out[i], high)
    return out


def share_bar(parts: Sequence[tuple[str, int]], title: str, *, width: int = 560,
              height: int = 26) -> str:
    """One horizontal bar split into ``(label, count)`` segments, each labelled inside when it fits."""
    total = sum(n for _, n in parts) or 1
    fills = ["#3f5f8f", "#9fb4d4", "#f1f1f1", "#d0d0d0"]
    body, x = [], 0.0
    for i, (label, n) in enumerate(parts):
        w = (width - 2) * n / total
        if n:
            body.append(f'<rect x="{_num(1 + x)}" y="1" width="{_num(w)}" height="{height - 2}" '
                        f'fill="{fills[i % len(fills)]}" stroke="#222" stroke-width="0.8"/>')
            text = f"{label} {n}"
            if w >= 7 * len(text):
                colour = "#fff" if i == 0 else "#000"
                body.append(f'<text x="{_num(1 + x + w / 2)}" y="{height / 2 + 4:.0f}" '
                            f'text-anchor="middle" fill="{colour}">{escape(text)}</text>')
        x += w
    return _svg(width, height, title, body)


__all__ = ["Spread", "bar_chart", "box_strip", "share_bar"]
