"""``legato analyze``: where runs lose their time, and how they fail (docs/analysis.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from legato import analysis
from legato.cli import output
from legato.cli.common import USAGE, CliError, DbOption, JsonOption, engine_for, since_time


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _met(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def _figures_table(title: str, f: dict[str, Any]) -> Any:
    table = output.table("figure", "value", "target", "", "from", title=title)
    rel, auto, rec = f["reliability"], f["automated_recovery"], f["recovery_time"]
    output.add_row(table, "reliability", _pct(rel["value"]), rel["target"], _met(rel["met"]),
                   f"{rel['completed']} completed of {rel['counted']}")
    output.add_row(table, "automated recovery", _pct(auto["value"]), auto["target"],
                   _met(auto["met"]),
                   f"{auto['recovered']} of {auto['failures']} ({auto['manual']} manual, "
                   f"{auto['sagas_compensated']}/{auto['sagas']} sagas; crashes not recorded)")
    output.add_row(table, "recovery time", f"p50 {_secs(rec['p50'])}, p99 {_secs(rec['p99'])}",
                   rec["target"], _met(rec["met"]), f"{rec['recoveries']} recoveries")
    return table


def _show(report: dict[str, Any]) -> None:
    con = output.console()
    more = " (the limit: older runs were not read)" if report["truncated"] else ""
    output.echo(f"analysed {report['runs']} run(s), the newest at most {report['limit']}"
                f"{more}")
    for wf in report["workflows"]:
        d = wf["duration"]
        summary = output.table("runs", "outcomes", "success", "failure", "compensated",
                               "p50", "p95", "p99", title=f"workflow {wf['name']}")
        output.add_row(summary, wf["runs"],
                       ", ".join(f"{k} {v}" for k, v in wf["outcomes"].items()),
                       _pct(wf["success_rate"]), _pct(wf["failure_rate"]),
                       _pct(wf["compensation_rate"]), _secs(d["p50"]), _secs(d["p95"]),
                       _secs(d["p99"]))
        con.print(summary)
        steps = output.table("step", "attempts", "p50", "p95", "p99", "retry rate",
                             "failure rate", "failures", "total", title="steps")
        for name, s in sorted(wf["steps"].items(), key=lambda i: -i[1]["total_seconds"]):
            lat = s["latency"]
            output.add_row(steps, name, s["attempts"], _secs(lat["p50"]), _secs(lat["p95"]),
                           _secs(lat["p99"]), _pct(s["retry_rate"]), _pct(s["failure_rate"]),
                           s["failures"], _secs(s["total_seconds"]))
        con.print(steps)
        time = output.table("where the time goes", "seconds", "share",
                            title="critical paths of ended runs")
        total = sum(wf["time"].values())
        for kind, secs in wf["time"].items():
            if secs:
                output.add_row(time, kind, _secs(secs), _pct(secs / total if total else None))
        con.print(time)
        for p in wf["critical_paths"]:
            chain = " -> ".join(f"{s['kind']}{'' if s['name'] is None else ' ' + s['name']}"
                                f" {s['seconds']:.3g}s" for s in p["path"])
            output.echo(output.one_line(f"slow run {p['workflow_id']} "
                                        f"({_secs(p['duration'])}): {chain}"))
        for e in wf["top_errors"][:5]:
            output.echo(output.one_line(f"error x{e['count']}: {e['type']}: "
                                        f"{output.clip(e['message'], 120)}"))
        b, f = wf["bottleneck"], wf["failure_point"]
        output.echo(output.one_line(
            "bottleneck: " + ("-" if b is None else f"{b['step']} ({_secs(b['total_seconds'])}"
                                                    " in total)")
            + "; failure point: " + ("-" if f is None else f"{f['step']} ({f['failures']}"
                                                           " failed attempts)")))
        con.print(_figures_table("the seed's figures", wf["figures"]))
    con.print(_figures_table("all workflow types", report["figures"]))


def analyze(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(metavar="NAME", help="Only this workflow.")
                    ] = None,
    since: Annotated[str | None, typer.Option(
        metavar="TIME", help="Only runs created since then: an ISO 8601 time (UTC unless it"
                             " says otherwise) or a duration ago (12h, 7d).")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Analyse at most the N newest runs.")
                     ] = analysis.DEFAULT_LIMIT,
    svg: Annotated[Path | None, typer.Option(
        "--svg", metavar="FILE", help="Also write a chart of where the time goes (SVG).")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Analyse runs: outcomes and rates, durations, per step latency, retries and failures,
    time working vs waiting, critical paths, top errors, the bottleneck, the failure point
    and the figures reliability, automated recovery and recovery time (docs/analysis.md).

    Example:

        legato analyze --name process_claim --since 7d --svg time.svg
    """
    if limit < 1:
        raise CliError(f"--limit {limit}: analyse at least 1 run", USAGE)
    with engine_for(ctx, db, read_only=True) as engine:
        start = None if since is None else since_time(since, engine.clock.now())
        report = analysis.analyze(engine, name=name, since=start, limit=limit)
    if svg is not None:
        try:
            svg.write_text(analysis.svg(report), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--svg {svg}: cannot write it: {exc.strerror}", USAGE) from None
    if as_json:
        output.print_json(report)
        return
    if not report["runs"]:
        output.say_none("runs to analyse")
        return
    _show(report)
