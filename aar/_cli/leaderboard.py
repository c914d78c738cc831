"""`aar leaderboard`: the best confirmed holdout results across every session (aar.team)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aar._cli.output import warn
from aar.text import shown

if TYPE_CHECKING:
    from aar.team import LeaderboardEntry


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _interval(ci: tuple[float, float]) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def _row(e: LeaderboardEntry) -> list[Text | str]:
    """One table row; agent-written text (method names, configurations) goes in as plain
    `Text`, never as rich markup, with hidden characters made visible."""
    vs = e.vs_naive
    edge = f"{_num(vs.mean)}\n{_interval(vs.ci)}" if vs else "n/a"
    if vs and vs.adjusted_p is not None:
        edge += f"\nHolm p {_num(vs.adjusted_p)}"
    repeat = "" if e.best_of_config else f"\nrepeats a better row ({e.same_config} rows)"
    where = f"{e.session_id} round {e.round}\nfinding {e.finding_id or '—'}\n{e.script}"
    return [
        Text(shown(e.method, keep="") + "\n" + shown(e.config_text or "—", keep="") + repeat),
        f"{_num(e.pgr_mean)}\n{_interval(e.pgr_ci)}\n{e.verdict}",
        f"{e.n_seeds} {'fresh' if e.fresh_seeds else 'own'}",
        edge,
        Text(f"{where}\ncode {e.code_sha256[:12]}"),
    ]


def leaderboard(
    task: Annotated[str | None, typer.Option("--task", help="Only this task.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the leaderboard as JSON.")] = False,
    runs: Annotated[
        Path | None, typer.Option("--runs", help="Runs directory (default: the configured one).")
    ] = None,
) -> None:
    """Confirmed holdout results per task and configuration, all sessions, best first.

    Only verdicts the sessions decided on holdout, never test feedback."""
    from aar.config import get_settings
    from aar.team import leaderboard as build

    board = build(runs or get_settings().runs_dir, task)
    for note in board.skipped:
        warn(f"skipped session {note.session_id}: {note.reason}")
    if as_json:
        print(board.model_dump_json(indent=2))
        return
    console = Console()
    if not board.tasks:
        read = f"{board.sessions_read} session(s) of {board.runs_dir}"
        console.print(Text(f"no confirmed holdout result in {read}"))
    for b in board.tasks:
        table = Table(title=Text(f"{b.task}: confirmed on holdout, best first"))
        table.add_column("method, configuration (vs naive)", ratio=3, overflow="fold")
        table.add_column("holdout PGR [95% t]", min_width=16)
        table.add_column("seeds")
        table.add_column("vs naive [95% t]", min_width=16)
        table.add_column("session, finding, code", no_wrap=True, min_width=26)
        for e in b.entries:
            table.add_row(*_row(e))
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)
