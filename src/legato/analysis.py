"""``legato.analysis.analyze``: where runs lose their time, and how they fail (docs/analysis.md).

Reads the newest runs matching a filter (at most ``limit``) and their journals through the
engine, and hands them to the pure rules of :mod:`legato.domain.analysis`; the SVG chart of
where the time goes is :func:`svg`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from legato.domain import analysis as rules
from legato.errors import InvalidInput

if TYPE_CHECKING:
    from legato.engine import Engine

#: how many runs an analysis reads at most, unless told otherwise
DEFAULT_LIMIT = 10_000
_PAGE = 1000


def analyze(engine: Engine, *, name: str | None = None, since: Any = None,
            limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Analyse the ``limit`` newest runs (of workflow ``name``, created ``since``: an aware
    datetime, ISO 8601 with its offset or epoch seconds, as :meth:`Engine.runs` takes it) and
    return the JSON-ready report: per workflow type the outcomes and rates, duration
    percentiles, per step attempts, latency, retry and failure rates and total time, where
    the time went, the critical paths of the slowest runs, the top errors, the bottleneck,
    the failure point and the seed's three figures beside their targets.

    >>> report = analyze(engine, name="process_claim", since="2027-01-01T00:00:00Z")
    >>> report["workflows"][0]["bottleneck"]
    {'step': 'score_claim', 'total_seconds': 812.5}
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidInput(f"limit: a whole number of runs >= 1 to analyse, not {limit!r}")
    facts: list[rules.RunFacts] = []
    cursor: str | None = None
    truncated = False
    while True:
        page = engine.runs(name=name, since=since, limit=min(_PAGE, limit - len(facts)),
                           cursor=cursor)
        for item in page.items:
            events = engine.store.journal(item["workflow_id"])
            facts.append(rules.run_facts(item["workflow_id"], item["name"], item["status"],
                                         events))
        cursor = page.next_cursor
        if cursor is None:
            break
        if len(facts) >= limit:  # full: were older runs left out?
            truncated = bool(engine.runs(name=name, since=since, limit=1, cursor=cursor).items)
            break
    found = rules.report(facts, limit=limit, truncated=truncated)
    found["filter"] = {"name": name, "since": None if since is None else str(since)}
    return found


# --- the chart ---------------------------------------------------------------------------

_COLOURS = {"working": "#2e7d32", "retry": "#ef6c00", "timer": "#1565c0", "event": "#6a1b9a",
            "human": "#c62828", "child": "#00838f", "manual": "#5d4037"}
_BAR, _LABEL, _WIDTH = 22, 220, 520


def _seconds(s: float) -> str:
    return f"{s:.3g} s" if s < 120 else f"{s / 60:.3g} min"


def svg(report: dict[str, Any], top_steps: int = 8) -> str:
    """An SVG chart of a report: per workflow type, a stacked bar of the time its ended runs
    spent working and waiting (by kind, along their critical paths), then its top steps by
    total time. Plain SVG, every text escaped."""
    rows: list[str] = []
    y = 40

    def text(x: float, y_: float, value: str, extra: str = "") -> None:
        rows.append(f'<text x="{x:g}" y="{y_:g}"{extra}>{escape(value)}</text>')

    text(10, 24, f"Where the time goes ({report['runs']} runs)", ' font-weight="bold"')
    x = _LABEL
    for kind, colour in _COLOURS.items():  # the legend
        rows.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        text(x + 16, 18, kind, ' font-size="11"')
        x += 70
    for wf in report["workflows"]:
        y += 10
        time: dict[str, float] = wf["time"]
        total = sum(time.values())
        text(10, y + 15, f"{wf['name']} ({_seconds(total)})", ' font-weight="bold"')
        x0 = float(_LABEL)
        for kind, secs in time.items():
            if total <= 0 or secs <= 0:
                continue
            w = secs / total * _WIDTH
            rows.append(f'<rect x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{_BAR}" '
                        f'fill="{_COLOURS.get(kind, "#999")}"><title>{escape(kind)}: '
                        f'{escape(_seconds(secs))}</title></rect>')
            x0 += w
        y += _BAR + 6
        steps = sorted(wf["steps"].items(), key=lambda i: (-i[1]["total_seconds"], i[0]))
        most = max((s["total_seconds"] for _, s in steps), default=0.0)
        for step, s in steps[:top_steps]:
            text(24, y + 12, step, ' font-size="12"')
            w = 0.0 if most <= 0 else s["total_seconds"] / most * _WIDTH
            rows.append(f'<rect x="{_LABEL}" y="{y + 2}" width="{w:.2f}" height="12" '
                        f'fill="#90a4ae"/>')
            text(_LABEL + w + 4, y + 12, _seconds(s["total_seconds"]), ' font-size="11"')
            y += 16
    height, width = y + 20, _LABEL + _WIDTH + 80
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">')
    return "\n".join([head, *rows, "</svg>"]) + "\n"
