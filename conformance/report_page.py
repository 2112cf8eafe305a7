"""`obsconf run --html DIR`: a report a person reads in a browser.

DIR/index.html: the run (IUT, torch, counts), a table per family with links, and every
case that fails the run (or is declared not to conform) with its first differences or
its error; each links to DIR/cases/<case>.html: the differences in full, the error with
the IUT's traceback, and the pair of pictures (golden left, IUT right, differing edges
red on both; see picture.py) for a case that differs. Pages link to the previous and the
next such case and back to the index. Every file is written atomically; nothing else in
DIR is touched.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from .expectations import XPASS, Verdict
from .golden import GoldenError, GoldenStore, write_atomic
from .outcome import DIFFER, ERROR
from .plan import PlanFormatError, parse_text

MAX_PICTURE_NODES = 400  # a bigger graph would be a picture tens of thousands of pixels tall
STYLE = """body { font-family: sans-serif; margin: 1.5em; max-width: 110em }
table { border-collapse: collapse } td, th { border: 1px solid #bbb; padding: .2em .6em; text-align: right }
td:first-child, th:first-child { text-align: left }
.differ, .error { color: #b01e1e } .conform { color: #1e6e1e } .skipped, .expected { color: #666 }
code, pre { font-size: 90% } pre { background: #f4f4f4; padding: .6em; overflow-x: auto }
li { margin: .2em 0 } nav { margin: 1em 0 } img { max-width: 100%; border: 1px solid #ddd }"""


def page_name(case_id: str) -> str:
    """The file of a case's page under cases/: its id with `/` as `__`."""
    return case_id.replace("/", "__") + ".html"


def write(folder: str | Path, verdicts: list[Verdict], impl: str, torch_version: str, strict: bool,
          not_run: list[str], store: GoldenStore, summary_line: str) -> Path:
    """Write the index and one page per case shown; the index's path."""
    from .reports import COLUMNS, counts, family_of

    folder = Path(folder)
    # what fails the run, and what is declared not to conform (a reader checks those too)
    shown = [v for v in verdicts if not v.ok or (v.expectation is not None and v.outcome.status in (DIFFER, ERROR))]
    title = f"obsconf: {impl} against the goldens (torch {torch_version})"
    parts = [f"<h1>{_e(title)}</h1>", f"<p id='summary'>{_e(summary_line)}</p>"]
    if not_run:
        parts.append(f"<p class='error'><b>Interrupted</b>: {len(not_run)} selected case(s) not run, "
                     f"from <code>{_e(not_run[0])}</code>.</p>")
    families: dict[str, list[Verdict]] = {}
    for v in verdicts:
        families.setdefault(family_of(v.outcome.case_id), []).append(v)
    rows = []
    for family in sorted(families):
        c = counts(families[family])
        cells = "".join(f"<td class='{k}'>{c[k]}</td>" for k in COLUMNS)
        rows.append(f"<tr><td><a href='#{_e(family)}'>{_e(family)}</a></td><td>{len(families[family])}</td>{cells}</tr>")
    parts.append("<h2>Families</h2><table id='families'><tr><th>family</th><th>cases</th>"
                 + "".join(f"<th>{k}</th>" for k in COLUMNS) + "</tr>" + "".join(rows) + "</table>")
    parts.append("<h2>Cases that do not conform</h2>")
    if not shown:
        parts.append("<p>None: every case conforms.</p>")
    for family in sorted({family_of(v.outcome.case_id) for v in shown}):
        parts.append(f"<h3 id='{_e(family)}'>{_e(family)}</h3><ul class='cases'>")
        for v in (v for v in shown if family_of(v.outcome.case_id) == family):
            o = v.outcome
            first = o.differences[:3] if o.differences else [o.message]
            more = f" <i>(+{len(o.differences) - 3} more)</i>" if len(o.differences) > 3 else ""
            parts.append(f"<li><a href='cases/{quote(page_name(o.case_id))}'><code>{_e(o.case_id)}</code></a> "
                         f"<span class='{o.status}'>{_e(_label(v))}</span>: "
                         + "; ".join(f"<code>{_e(d)}</code>" for d in first) + more + "</li>")
        parts.append("</ul>")
    write_atomic(folder / "index.html", _page(title, "\n".join(parts)))
    for i, v in enumerate(shown):
        neighbours = (shown[i - 1].outcome.case_id if i else None, shown[i + 1].outcome.case_id if i + 1 < len(shown) else None)
        write_atomic(folder / "cases" / page_name(v.outcome.case_id), _case_page(v, impl, store, neighbours))
    return folder / "index.html"


def _label(v: Verdict) -> str:
    if v.kind == XPASS:
        return "xpass"
    return v.outcome.status + (" (expected)" if v.ok and v.expectation is not None else "")


def _case_page(v: Verdict, impl: str, store: GoldenStore, neighbours) -> str:
    from . import picture

    o = v.outcome
    links = ["<a href='../index.html'>index</a>"] + [
        f"<a rel='{rel}' href='{quote(page_name(n))}'>{rel}: <code>{_e(n)}</code></a>"
        for rel, n in zip(("prev", "next"), neighbours) if n is not None]
    parts = [f"<nav>{' | '.join(links)}</nav>", f"<h1><code>{_e(o.case_id)}</code></h1>",
             f"<p class='{o.status}'>{_e(_label(v))}" + (f": {_e(v.why)}" if v.why and (v.expectation or v.entries) else "")
             + "</p>"]
    if o.differences:
        parts.append("<h2>Differences (each <code>A != B</code>: golden != IUT)</h2><ul id='differences'>"
                     + "".join(f"<li><code>{_e(d)}</code></li>" for d in o.differences) + "</ul>")
    if o.message:
        parts.append(f"<h2>Message</h2><p><code>{_e(o.message)}</code></p>")
    if o.detail:
        parts.append(f"<h2>Traceback and output of the IUT</h2><pre>{_e(o.detail)}</pre>")
    if o.status == DIFFER:
        parts.append("<h2>Observed graphs</h2>" + _pictures(o, impl, store, picture))
    return _page(f"obsconf: {o.case_id}", "\n".join(parts))


def _pictures(o, impl: str, store: GoldenStore, picture) -> str:
    if not o.actual_plan:
        return "<p>No picture: the IUT's plan was not kept.</p>"
    try:
        expected = store.load(o.case_id)
        _, actual = parse_text(o.actual_plan, source=f"{impl}'s plan of {o.case_id}")
    except (GoldenError, PlanFormatError) as exc:
        return f"<p>No picture: {_e(str(exc))}</p>"
    nodes = max(len(expected.graph), len(actual.graph))
    if nodes > MAX_PICTURE_NODES:
        return f"<p>No picture: the graph has {nodes} nodes (pictures are drawn up to {MAX_PICTURE_NODES}).</p>"
    image = picture.side_by_side(expected, actual, o.case_id, impl)
    return ("<p>Left the golden, right the IUT. Red: edges whose observers or sharing differ (on both sides). "
            "Blue: other observed edges.</p>"
            f"<img alt='golden and IUT observed graphs of {_e(o.case_id)}' src='data:image/png;base64,{picture._png(image)}'>")


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
