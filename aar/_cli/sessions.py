"""`aar sessions list | show`: what research sessions exist and where they stand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aar._cli.output import warn
from aar.errors import AarError, UsageError
from aar.text import shown

if TYPE_CHECKING:
    from aar.session import SessionState

sessions_app = typer.Typer(help="Research sessions: list them, show one.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys).")]


STOPPED = "interrupted"
"""The state shown for a session whose log says "running" while no process runs it."""


def _shown_state(root: Path, state: SessionState) -> str:
    """The log's state, except that a "running" session no process holds (its writer lock is
    free: stopped by kill -9, a crash, or a signal before aar handled it) is shown as stopped,
    to be continued with `aar resume`. Reading writes nothing to the session."""
    from aar.session import writer_running

    if state.state == "running" and not writer_running(root):
        return STOPPED
    return state.state


def _summary(root: Path, state: SessionState) -> dict[str, Any]:
    """The stable `--json` shape of a session."""
    u = state.usage
    return {
        "id": state.id,
        "state": _shown_state(root, state),
        "model": state.config.model,
        "goal": state.config.goal,
        "tasks": state.config.tasks,
        "seeds": state.config.seeds,
        "rounds": [
            {
                "number": r.number,
                "kind": r.kind,
                "ended": r.ended,
                "why_ended": r.why_ended,
                "proposals": r.proposals,
                "report": str(root / "rounds" / str(r.number) / "report.md") if r.ended else None,
            }
            for r in state.rounds
        ],
        "findings": sorted(state.findings),
        "usage": {
            "requests": u.requests,
            "tokens": u.tokens,
            "usd": round(u.usd, 6),
            "evals": u.evals,
            "evals_budget": state.config.budgets.evals,
            "sandbox_cpu_s": round(u.sandbox_cpu_s, 1),
        },
        "path": str(root),
    }


def _states(runs_dir: Path) -> tuple[list[tuple[Path, SessionState]], list[tuple[Path, str]]]:
    """The sessions whose logs read, and (root, problem) for each one whose log does not: one
    damaged session must not hide the others."""
    from aar.session import EventLog

    readable, damaged = [], []
    for root in sorted(runs_dir.glob("s-*")):
        if (root / "events.jsonl").is_file():
            try:
                log = EventLog(root)
                if log.read():
                    readable.append((root, log.state()))
                else:  # the log was begun, its creation event never written
                    damaged.append((root, INCOMPLETE))
            except AarError as exc:
                damaged.append((root, str(exc)))
        elif root.is_dir():  # creation stopped (Ctrl-C) before the log began: shown, not hidden
            damaged.append((root, INCOMPLETE))
    return readable, damaged


INCOMPLETE = (
    "incomplete: its creation was interrupted before the session log began (or is under way "
    "now); nothing ran in it, so it can be removed"
)


def _label(problem: str) -> str:
    return "incomplete" if problem == INCOMPLETE else "unreadable"


@sessions_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """Every session under the runs directory, newest last."""
    from aar.config import get_settings

    runs_dir = get_settings().runs_dir
    if not runs_dir.exists():  # nothing was ever run here: say where aar looked
        from aar.config import project_note

        warn(project_note() or f"no runs directory at {runs_dir} (no session has run here)")
    readable, damaged = _states(runs_dir)
    rows = [_summary(root, state) for root, state in readable]
    for root, problem in damaged:
        warn(f"skipped session {root.name}: {problem}")
    if as_json:
        unreadable = [
            {"id": root.name, "state": _label(problem), "problem": problem, "path": str(root)}
            for root, problem in damaged
        ]
        print(json.dumps(rows + unreadable, indent=2))
        return
    Console().print(_sessions_table(rows, damaged, runs_dir))
    if any(r["state"] == STOPPED for r in rows):
        Console().print(
            f"{STOPPED}: nothing runs it; continue it with: aar resume ID", soft_wrap=True
        )


def _sessions_table(
    rows: list[dict[str, Any]], damaged: list[tuple[Path, str]], runs_dir: Path
) -> Table:
    """Ids and states are copied and read whole, so they never wrap or shorten; at 80
    columns the model's name gives way (whole in `aar sessions show`), and the light layout
    (no outer border, one space between columns) leaves room for the rest."""
    from rich import box

    table = Table(
        title=f"sessions in {runs_dir}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        title_justify="left",
    )
    table.add_column("id", no_wrap=True, min_width=24)
    table.add_column("state", no_wrap=True)
    table.add_column("model", no_wrap=True, overflow="ellipsis", min_width=8, ratio=1)
    for col in ("rounds", "findings", "evals"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        u = r["usage"]
        table.add_row(
            r["id"],
            r["state"],
            Text(shown(r["model"], keep="")),
            str(len(r["rounds"])),
            str(len(r["findings"])),
            f"{u['evals']}/{u['evals_budget']}",
        )
    for root, problem in damaged:
        table.add_row(root.name, _label(problem), "", "", "", "")
    return table


@sessions_app.command("show")
def show(
    session_id: Annotated[str, typer.Argument(help="A session id or a unique start of one.")],
    as_json: JsonOpt = False,
) -> None:
    """One session: state, rounds, reports, findings, what it spent."""
    from aar._cli.ids import resolve_session_id
    from aar.config import get_settings
    from aar.session import EventLog

    runs_dir = get_settings().runs_dir
    session_id = resolve_session_id(runs_dir, session_id)  # a unique prefix is enough
    root = runs_dir / session_id
    if root.is_dir() and not (root / "events.jsonl").exists():
        raise AarError(f"session {session_id} is {INCOMPLETE}")
    if not (root / "events.jsonl").is_file():
        raise UsageError(f"no session {session_id!r} under {runs_dir}")
    summary = _summary(root, EventLog(root).state())
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    """The session in plain lines. A goal and a round's reason are user- or agent-written:
    printed as text (never rich markup) with every hidden character (ESC, bidi overrides) as
    a visible mark (`aar.text.shown`), so they cannot restyle or rewrite the terminal."""
    out = Console(highlight=False)

    def line(*parts: str | tuple[str, str]) -> None:
        out.print(Text.assemble(*(p if isinstance(p, tuple) else shown(p, keep="") for p in parts)))

    line((summary["id"], "bold"), f" — {summary['state']} — {summary['model']}")
    if summary["state"] == STOPPED:
        line(f"nothing runs it now; continue it with: aar resume {summary['id']}")
    line(f"goal: {summary['goal']}")
    line(f"tasks: {', '.join(summary['tasks'])}; seeds {summary['seeds']}")
    running = STOPPED if summary["state"] == STOPPED else "running"
    for r in summary["rounds"]:
        line(
            f"round {r['number']} ({r['kind']}): {r['why_ended'] or running}; proposals "
            f"{', '.join(r['proposals']) or 'none'}; report {r['report'] or '—'}"
        )
    u = summary["usage"]
    line(
        f"spent: {u['requests']} requests, {u['tokens']} tokens, ${u['usd']}, "
        f"{u['evals']}/{u['evals_budget']} evaluations, {u['sandbox_cpu_s']} s sandbox CPU"
    )
