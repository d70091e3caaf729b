"""The class report (issue 14): every question and student named, numbers as in grades.csv,
nothing external, student text escaped, kept current during a batch, rebuilt by `grader report`,
and it renders in headless Chromium."""

from __future__ import annotations

import csv
import html.parser
import re
import shutil
import statistics
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from grader.grading import batch
from grader.cli import main
from grader.gradebook.overrides import Override, save_overrides
from grader.report.failures import failure_kinds, kind_of
from grader.results import PartResult, QuestionResult, SubmissionResult
from grader.gradebook.store import Store
from notebooks import variant
from test_batch import QUESTIONS

HOSTILE = "<script>alert(1)</script>.ipynb"


def _result(name: str, q1: tuple[float, str], q2: tuple[float, str], *, time: float = 1.0,
            error: str | None = None, internal: str | None = None) -> SubmissionResult:
    hidden = max(0.0, q1[0] - 1.2)
    questions = (
        QuestionResult("q1_gradf", "Analytic gradient", 3.0, (
            PartResult("published", min(q1[0], 1.2), 1.2, q1[1]),
            PartResult("hidden", hidden, 1.8, "5 of 5 hidden checks failed; for example hidden point "
                       f"(1.{len(name)}, 2.5, 3): expected [1, 2, 3], got [1, 2, -{time}]"
                       if hidden < 1.8 else "all 5 hidden checks passed"))),
        QuestionResult("q2_forward_diff", "Forward difference", 2.0,
                       (PartResult("estimate", q2[0], 2.0, q2[1], answered=q2[0] > 0 or "not" not in q2[1]),)))
    return SubmissionResult("micrograd", name, questions, time, "0.1.0", error=error,
                            internal_error=internal, key={"config_sha256": "ab" * 32},
                            isolation="sandbox: test level")


def _mixed(out: Path) -> Store:
    """A stored batch: full marks, the same q1 slip at different points, an override, a rejected
    file, a grader error, a hostile file name, one submission not graded yet."""
    store = Store(out)
    ok = "`numerical_grad` is a correct forward difference"
    rows = {
        "101": ("smith_101.ipynb", _result("smith_101.ipynb", (3, "gradf is correct"), (2, ok), time=2.5)),
        "102": ("jones_102.ipynb", _result("jones_102.ipynb", (0.8, "gradf(2, 3, 4): df/dc expected 0.0625, "
                                                               "got -0.0625"), (2, ok), time=1.5)),
        "103": ("lee_103.ipynb", _result("lee_103.ipynb", (0.8, "gradf(1.5, 2, -1): df/dc expected 1, got -1"),
                                         (0, "not defined: `numerical_grad` does not exist"), time=7.25)),
        "104": ("carter_104.txt", _result("carter_104.txt", (0, ""), (0, ""), time=0.0,
                                          error="the file is not a notebook <b>bold</b>")),
        "105": ("eve_105.ipynb", _result("eve_105.ipynb", (0, ""), (0, ""),
                                         internal="Traceback ...\nKernelStartError: no kernel")),
        "hostile": (HOSTILE, _result(HOSTILE, (1.2, "gradf is <img src=http://evil/x.png>"),
                                     (1, "half <a href='https://evil'>"), time=3.0)),
    }
    for sid, (file, result) in rows.items():
        store.save(sid, file, result)
    save_overrides(out, {"102": [Override("102", "q1_gradf", 2.5, "sign slip only")]})
    store.rebuild(["q1_gradf", "q2_forward_diff"], [("106", "late_106.ipynb")])
    return store


class _Table(html.parser.HTMLParser):
    """The text of each cell of each ``<tr id=...>`` of the students table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.inside, self.row, self.cell = False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == "student-table"
        elif self.inside and tag == "tr" and attrs.get("id"):
            self.row = self.rows.setdefault(attrs["id"], [])
        elif self.row is not None and tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "table":
            self.inside, self.row = False, None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def _gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _two(cell: str) -> str:
    """A grades.csv score as the report shows it (two decimals at most)."""
    return cell and f"{round(float(cell), 2):g}"


def check_report(out: Path, questions: list[str]) -> str:
    """Assert what every report must show; its text."""
    text = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower() and "@import" not in text and "url(" not in text
    rows = _gradebook(out)
    table = _Table()
    table.feed(text)
    for row in rows:
        cells = table.rows[f"s-{row['id']}"]
        assert cells[0].split()[0] == row["id"]
        assert cells[1] == row["file"]
        # grades.csv keeps four decimals; the report reads like the terminal, with two
        assert [c.split(" ")[0] for c in cells[2:-2]] == [_two(row[q]) for q in questions]
        assert (cells[-2], cells[-1]) == (_two(row["total"]), row["status"])
        if row["status"] != "not_graded":
            assert (out / "submissions" / row["id"] / "feedback.html").is_file()
    for q in questions:
        assert f'id="q-{q}"' in text
        scored = [float(r[q]) for r in rows if r["status"] in ("graded", "rejected")]
        full = sum(s >= max(scored) - 1e-9 and s > 0 for s in scored)  # someone has full marks
        assert f"full: <b>{full}</b>" in text
    totals = [float(r["total"]) for r in rows if r["status"] in ("graded", "rejected")]
    assert f"mean: <b>{round(statistics.fmean(totals), 2):g}</b>" in text
    assert f"median: <b>{round(statistics.median(totals), 2):g}</b>" in text
    assert f"submissions: <b>{len(totals)}</b>" in text
    return text


# ------------------------------------------------------------------ the page, from stored results

def test_report_names_everyone_matches_grades_csv_and_escapes_student_text(tmp_path):
    out = tmp_path / "out"
    _mixed(out)
    text = check_report(out, ["q1_gradf", "q2_forward_diff"])
    for sid in ("101", "102", "103", "104", "105", "106", "hostile"):
        assert f'id="s-{sid}"' in text
    assert "<b>4</b> graded, <b>1</b> rejected, <b>1</b> grader errors, <b>1</b> not graded yet" in text
    assert "the file is not a notebook &lt;b&gt;bold&lt;/b&gt;" in text     # rejected, with reason
    assert "KernelStartError: no kernel" in text                             # grader error, last line
    assert "2.5 <span class=\"ovr\">✎ grader 0.8</span>" in text             # override beside grader's
    assert "sandbox: test level" in text and "abababababab" in text           # isolation, digest
    assert "7.2 s" in text or "7.3" in text                                   # slowest submission
    for raw in (HOSTILE, "<img src=http://evil", "<a href='https://evil'>", "<b>bold"):
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.ipynb" in text
    feedback = (out / "submissions" / "hostile" / "feedback.html").read_text(encoding="utf-8")
    assert "<script" not in feedback and "<img" not in feedback and "&lt;img src=" in feedback
    assert "<h1>" in feedback and "report.html" not in feedback  # the student's page alone


def test_one_kind_of_failure_however_many_points_it_was_met_at(tmp_path):
    """The same q1 slip at (2, 3, 4) and at (1.5, 2, -1) is one kind with both students."""
    store = _mixed(tmp_path / "out")
    kinds = failure_kinds("q1_gradf", [(sid, r) for sid, _, r in store.stored() if r.status == "graded"])
    published = [k for k in kinds if k.label.startswith("published: gradf(…): df/dc")]
    assert len(published) == 1 and published[0].students == ["102", "103"]
    hidden = [k for k in kinds if k.label.startswith("hidden:")]
    assert len(hidden) == 1 and hidden[0].students == ["102", "103", "hostile"]
    assert kinds[0] is hidden[0]                                               # most students first


@pytest.mark.parametrize("a, b, same", [
    ("df/da expected 1.5, got -2", "df/da expected 0.0625, got 3e-06", True),
    ("gradf(2, 3, 4): df/dc expected 1", "gradf(1.33, -2.4, 0.5): df/dc expected 7", True),
    ("3 of 5 hidden checks failed; for example hidden point (1, 2, 3): expected [1, 2], got [1, 3]",
     "5 of 5 hidden checks failed; for example hidden point (4, 5, 6): expected [9, 8], got [0, 0]", True),
    ("df/da expected 1, got 2", "df/db expected 1, got 2", False),
    ("raised ValueError in numerical_grad2", "raised ValueError in numerical_grad", False),
    ("the file is not UTF-8 text", "the file is not UTF-16 text", False),
], ids=["numbers", "points", "hidden-counts", "other-component", "names-keep-digits", "UTF-8"])
def test_kinds_strip_numbers_and_points_only(a, b, same):
    assert (kind_of(a) == kind_of(b)) is same


def test_grader_report_rebuilds_without_grading_and_keeps_not_graded_rows(tmp_path):
    out = tmp_path / "out"
    _mixed(out)
    before = (out / "report.html").read_text(encoding="utf-8")
    (out / "report.html").unlink()
    (out / "submissions" / "101" / "feedback.html").unlink()
    records = {p: p.read_bytes() for p in out.glob("submissions/*/result.json")}
    assert main(["report", str(out)]) == 0
    after = (out / "report.html").read_text(encoding="utf-8")
    made = r"<td>Report made</td><td>[^<]*</td>"
    assert re.sub(made, "", after) == re.sub(made, "", before)
    assert (out / "submissions" / "101" / "feedback.html").is_file()
    assert {p: p.read_bytes() for p in out.glob("submissions/*/result.json")} == records
    assert {r["id"]: r["status"] for r in _gradebook(out)}["106"] == "not_graded"   # still listed
    assert main(["report", str(tmp_path / "nowhere")]) == 2


# ------------------------------------------------------------------ a real batch

@pytest.mark.slow
def test_a_batch_writes_the_report_while_grading_and_at_the_end(tmp_path, small_config, kernel_tmp,
                                                                monkeypatch, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    variant(subs / "smith_111_901_micrograd_exercises.ipynb")
    variant(subs / "jones_222_902_micrograd_exercises.ipynb", edit={"q1-gradf": ("1/c**2", "-1/c**2")})
    variant(subs / "<img src=x onerror=alert(1)>.ipynb", drop=["q4-softmax"])
    (subs / "garbage_333_903_micrograd_exercises.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(batch, "REPORT_EVERY", 0.0)
    live: list[tuple[int, int] | None] = []
    write = Store.write_report

    def spy(self, question_ids=(), pending=(), progress=None, **kw):
        live.append(progress)
        path = write(self, question_ids, pending, progress, **kw)
        if progress is not None:
            assert 'http-equiv="refresh"' in path.read_text(encoding="utf-8")
        return path

    monkeypatch.setattr(Store, "write_report", spy)
    args = ["run", str(subs), "--out", str(out), "--config", str(small_config), "--jobs", "2"]
    assert main(args) == 0
    assert "report.html" in capsys.readouterr().out
    assert live == [(1, 4), (2, 4), (3, 4), (4, 4), None]   # after each result, then the final
    text = check_report(out, QUESTIONS)
    assert "refresh" not in text and "Grading in progress" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.ipynb" in text and "<img" not in text
    assert "df/dc expected …, got …" in text


# ------------------------------------------------------------------ it renders

def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB(A) PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(prev := bytes(line))
    return width, height, rows


def test_the_report_renders_in_headless_chromium(tmp_path):
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium): cannot render the report")
    out = tmp_path / "out"
    _mixed(out)
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1000,1400", (out / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    pixels = {row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 3 * 7)}
    assert len(pixels) > 20, "the screenshot is (nearly) one colour"
    dark = sum(1 for row in rows[::5] for i in range(0, len(row), 15) if row[i] < 100)
    assert dark > 500, "hardly any text or bars drawn"
