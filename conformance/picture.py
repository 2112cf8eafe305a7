"""Pictures of observed graphs for failing cases: the expected and the actual plan side by
side, differing edges in red, in an HTML page (PNG images drawn with Pillow, which
torchvision already brings; no graphviz needed).

Layout: one node a row, in graph order; every data edge an arc on the right, observed
edges labelled with their observer chain (`Histogram`, `FQ`; `#k` marks an observer
instance shared with other edges, k numbering the shared instances). Labels sit in a
column of their own, at the consumer's row, one line each (they never overlap). An edge
that differs is red on both sides, also where one side leaves it unobserved.
"""

from __future__ import annotations

import base64
import html
import io
import re

from PIL import Image, ImageDraw, ImageFont

from . import diff
from .plan import Edge, Plan

ROW, BOX_W, MARGIN, ARC = 34, 300, 16, 26
LINE, LABEL_CHARS, LABEL_W = 17, 70, 430  # label lines: height, characters, column width
RED, GREY, BLACK, BLUE = (200, 30, 30), (150, 150, 150), (20, 20, 20), (30, 80, 170)
_LINE = re.compile(r"(\S+) = (\S+) (\S+?)\((.*)\)$")


def _short(config: str) -> str:
    name = config.split("(", 1)[0].rsplit(".", 1)[-1]
    return name.replace("Observer", "").replace("FakeQuantize", "FQ").replace("MovingAverage", "MovAvg")


def _chains(plan: Plan) -> dict[Edge, tuple[str, ...]]:
    """edge -> observer configurations, with the instance id of shared ones."""
    instance = {}
    for k, group in enumerate(sorted(plan.sharing), start=1):
        for obs in group:
            instance[obs] = k
    return {e: tuple(plan.observers[o] + (f" #{instance[o]}" if o in instance else "") for o in chain)
            for e, chain in plan.edges.items()}


def differing_edges(expected: Plan, actual: Plan) -> set[Edge]:
    """Edges whose observer chains, or sharing, differ."""
    a, b = _chains(expected), _chains(actual)

    def shared_with(plan):
        """edge -> every edge that one of its observer instances also serves."""
        instance = diff._instance_of(plan)
        groups: dict[str, set] = {}
        for e, chain in plan.edges.items():
            for obs in chain:
                groups.setdefault(instance[obs], set()).add(e)
        return {e: frozenset().union(*(groups[instance[o]] for o in chain)) for e, chain in plan.edges.items()}

    strip = lambda chains: {e: tuple(c.split(" #")[0] for c in v) for e, v in chains.items()}  # noqa: E731
    sa, sb = shared_with(expected), shared_with(actual)
    ca, cb = strip(a), strip(b)
    return {e for e in set(a) | set(b) if ca.get(e) != cb.get(e) or sa.get(e) != sb.get(e)}


def draw(plan: Plan, title: str, highlight: set[Edge]) -> Image.Image:
    rows = []
    for line in plan.graph:
        m = _LINE.match(line)
        rows.append((m.group(1), f"{m.group(2)} {m.group(3)}") if m else (line.split(" = ")[0], ""))
    index = {name: i for i, (name, _) in enumerate(rows)}
    data_edges = []
    for i, line in enumerate(plan.graph):
        m = _LINE.match(line)
        if not m:
            continue
        for name in dict.fromkeys(re.findall(r"[^\s(),\[\]{}:]+", m.group(4))):
            if name in index and index[name] < i:
                data_edges.append((rows[index[name]][0], rows[i][0]))
    observed = _chains(plan)
    by_pair: dict[tuple[str, str], list[Edge]] = {}
    for e in observed:
        by_pair.setdefault((e.producer, e.consumer), []).append(e)
    pairs = list(dict.fromkeys(data_edges + list(by_pair)))
    differing_pairs = {(e.producer, e.consumer) for e in highlight}
    label_x = MARGIN + BOX_W + ARC * (len(pairs) + 1) + 10
    labels = _place_labels(pairs, by_pair, observed, index, differing_pairs)
    last_line = max([slot for slot, _, _ in labels] + [0])
    width = label_x + LABEL_W + MARGIN
    height = max(MARGIN * 3 + ROW * (len(rows) + 1), MARGIN * 3 + 10 + (last_line + 2) * LINE)
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    pen.text((MARGIN, MARGIN), title, fill=BLACK, font=font)
    top = MARGIN * 2 + 10
    for i, (name, what) in enumerate(rows):
        y = top + i * ROW
        pen.rectangle([MARGIN, y, MARGIN + BOX_W, y + ROW - 8], outline=BLACK)
        pen.text((MARGIN + 6, y + 6), f"{name}: {what}"[:46], fill=BLACK, font=font)
    for k, (src, dst) in enumerate(sorted(pairs, key=lambda p: (index.get(p[1], 0) - index.get(p[0], 0), p))):
        if src not in index or dst not in index:
            continue
        edges = by_pair.get((src, dst), [])
        colour = RED if (src, dst) in differing_pairs else (BLUE if edges else GREY)
        x = MARGIN + BOX_W + ARC * (k + 1)
        y0, y1 = top + index[src] * ROW + ROW // 2 - 4, top + index[dst] * ROW + ROW // 2 - 4
        pen.line([(MARGIN + BOX_W, y0), (x, y0), (x, y1), (MARGIN + BOX_W, y1)], fill=colour,
                 width=2 if edges or colour == RED else 1)
        pen.polygon([(MARGIN + BOX_W, y1), (MARGIN + BOX_W + 7, y1 - 4), (MARGIN + BOX_W + 7, y1 + 4)], fill=colour)
    for slot, text, colour in labels:
        pen.text((label_x, top + slot * LINE), text, fill=colour, font=font)
    return image


def _place_labels(pairs, by_pair, observed, index, differing_pairs) -> list[tuple[int, str, tuple]]:
    """(line, text, colour) of every edge label: at the consumer's row, or the first free
    line below it."""
    taken: set[int] = set()
    placed = []
    for src, dst in sorted((p for p in pairs if p[0] in index and p[1] in index), key=lambda p: (index[p[1]], index[p[0]])):
        edges = by_pair.get((src, dst), [])
        if not edges and (src, dst) not in differing_pairs:
            continue
        text = f"{src} -> {dst}: " + ("; ".join(f"{e.position}: " + " > ".join(
            _short(c.split(" #")[0]) + (" #" + c.split(" #")[1] if " #" in c else "") for c in observed[e])
            for e in edges) if edges else "no observer")
        slot = index[dst] * ROW // LINE
        while slot in taken:
            slot += 1
        taken.add(slot)
        placed.append((slot, text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 3] + "...",
                       RED if (src, dst) in differing_pairs else BLUE))
    return placed


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def side_by_side(expected: Plan, actual: Plan, case_id: str, impl: str) -> Image.Image:
    highlight = differing_edges(expected, actual)
    left = draw(expected, f"{case_id}: expected (golden)", highlight)
    right = draw(actual, f"{case_id}: {impl}", highlight)
    image = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), "white")
    image.paste(left, (0, 0))
    image.paste(right, (left.width, 0))
    return image


def html_report(case_id: str, impl: str, expected: Plan, actual: Plan, differences: list[str]) -> str:
    image = side_by_side(expected, actual, case_id, impl)
    items = "\n".join(f"<li><code>{html.escape(d)}</code></li>" for d in differences) or "<li>none</li>"
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>obsconf: {html.escape(case_id)}</title></head>\n"
            f"<body style='font-family: sans-serif'>\n<h1>{html.escape(case_id)}: golden vs {html.escape(impl)}</h1>\n"
            f"<h2>Differences</h2>\n<ul>\n{items}\n</ul>\n"
            f"<h2>Observed graphs</h2>\n<p>Red: edges whose observers or sharing differ. Blue: other observed edges.</p>\n"
            f"<img alt='expected and actual observed graphs' src='data:image/png;base64,{_png(image)}'>\n</body></html>\n")
