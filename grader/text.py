"""Text a student controls, made safe to show anywhere: the one sanitiser every output uses.

Exception messages from cells and probes, names and reprs from the kernel, file names and zip
members all end up on the instructor's terminal (plain and ``rich``), in Markdown, HTML, CSV and
JSON. :func:`shown` spells every character that could act instead of being read as a visible
escape: C0 controls (ESC and so OSC 52 clipboard writes, OSC 0 titles, CSI cursor moves and
erasures), DEL, C1 controls (U+0080-U+009F, which some terminals obey as CSI and OSC), the
bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) and every other invisible
format character, line and paragraph separators, unassigned and private-use code points, lone
surrogates (a file name's undecodable bytes). Newline and tab stay unless ``lines=False``.

The result is plain text that only shows characters: ``\\x1b``, ``\\u202e``. It is idempotent
(escaping twice changes nothing more), so it is applied where text enters from the kernel or a
student's file *and* again by every writer, and a new output cannot forget it. HTML escaping
(``<``, ``&``), CSV quoting and ``rich`` markup are still each writer's own job; ``rich`` is always
given ``Text`` objects, never markup strings.

:func:`clip` shortens long text saying how much was left out: never cut silently.
"""

from __future__ import annotations

import unicodedata

# Unicode categories shown escaped: controls, format (bidi, zero-width), surrogates, private use,
# unassigned, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(c: str) -> str:
    n = ord(c)
    if c in _SHORT:
        return _SHORT[c]
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def _safe(c: str, lines: bool) -> bool:
    if c == "\n" or c == "\t":
        return lines
    return unicodedata.category(c) not in _HIDDEN


def shown(text: object, *, lines: bool = True) -> str:
    """``text`` with every character that a terminal, browser or editor would act on (or hide)
    spelled as a backslash escape. ``lines``: keep newlines and tabs (else escaped too)."""
    if not isinstance(text, str):
        text = str(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(c if _safe(c, lines) else _escape(c) for c in text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def one_line(text: object) -> str:
    """:func:`shown` for a place that holds one line (a file name, a progress line's field)."""
    return shown(text, lines=False)


__all__ = ["clip", "one_line", "shown"]
