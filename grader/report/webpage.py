"""Self-contained HTML pages: one inline stylesheet, no scripts, nothing fetched; feedback as HTML.

Every page opens from disk in any browser and prints cleanly. Student-controlled text (file
names, messages) is escaped by the callers with :func:`html.escape`; Markdown is rendered with
raw HTML, links and images turned off, so a message cannot inject markup or fetch anything.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt

from ..results import SubmissionResult
from .feedback import submitted_name, feedback_markdown

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111;
       background: #fff; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #999; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
a { color: #1a4d8f; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { white-space: pre-wrap; background: #f4f4f4; padding: .5rem; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #bbb; padding: .2rem .45rem; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.meta td:first-child { font-weight: 600; background: #f6f6f6; }
.stats { margin: .3rem 0; }
.stats span { display: inline-block; margin-right: 1.2rem; }
.note { color: #444; font-size: .92rem; }
.ovr { font-size: .85em; color: #333; }
.bad { font-weight: 600; }
.kind { margin: .2rem 0 .8rem; }
.kind .label { font-style: italic; overflow-wrap: anywhere; }
.kind .sample { color: #333; font-size: .88rem; overflow-wrap: anywhere; margin-left: 1.2rem; }
.kind .who { margin-left: 1.2rem; }
.who a { margin-right: .35rem; }
.live { border: 2px dashed #555; padding: .4rem .6rem; }
tr:target { outline: 3px solid #1a4d8f; }
svg { display: block; max-width: 100%; height: auto; margin: .2rem 0; }
.file { overflow-wrap: break-word; max-width: 26rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  a { color: #000; text-decoration: none; }
  h2, h3 { break-after: avoid; }
  section, tr, .kind, svg { break-inside: avoid; }
  .live { display: none; }
}
"""

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable(["link", "image", "autolink",
                                                               "reference"])


def page(title: str, body: str, *, refresh: int | None = None) -> str:
    """A whole HTML document: ``body`` (already HTML) under an escaped ``title``."""
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">\n' if refresh else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"{meta}<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def markdown_html(text: str) -> str:
    """Markdown as HTML: raw HTML shown as text, links and images shown as their source."""
    html: str = _MARKDOWN.render(text)
    return html


def feedback_html(result: SubmissionResult) -> str:
    """``feedback.md`` of ``result`` (overrides already applied) as a page of its own: the student's
    alone (the class report links to it, never the other way round)."""
    return page(f"{result.assignment}: {submitted_name(result.submission)}",
                markdown_html(feedback_markdown(result)))


__all__ = ["CSS", "feedback_html", "markdown_html", "page"]
