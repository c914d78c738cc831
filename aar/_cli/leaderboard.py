"""`aar leaderboard`: the best confirmed holdout results across every session (aar.team)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from aar._cli.output import clip, warn
from aar.text import shown

if TYPE_CHECKING:
    from aar.team import LeaderboardEntry, TaskBoard


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
    where = "\n".join(_row_lines(e))
    return [
        Text(shown(e.method, keep="") + "\n" + shown(e.config_text or "—", keep="") + repeat),
        f"{_num(e.pgr_mean)}\n{_interval(e.pgr_ci)}\n{e.verdict}",
        f"{e.n_seeds} {'fresh' if e.fresh_seeds else 'own'}",
        edge,
        Text(where),
    ]


def _row_lines(e: LeaderboardEntry) -> list[str]:
    """The table's last cell, a line each: where the entry's evidence lives."""
    finding = f"finding {e.finding_id or '—'}"
    return [f"{e.session_id} round {e.round}", finding, e.script, f"code {e.code_sha256[:12]}"]


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
        console.print(board_view(b, console.width))


def board_view(b: TaskBoard, width: int) -> RenderableType:
    """One task's board at `width` columns: the table where every column fits whole, else a
    few plain lines an entry. Ids (session, finding, code) and method names are typed into
    other commands, so they are never folded or cut at any width."""
    return _table(b) if width >= _table_width(b) else _compact(b, width)


def _table_width(b: TaskBoard) -> int:
    """The narrowest the table is drawn with every name and id whole: the borders and
    padding, the longest method name, the widest header of each number column and the
    longest line of the last (unwrapped) column."""
    method = min(max((len(e.method) for e in b.entries), default=8), 48)
    where = max(
        (len(x) for e in b.entries for x in _row_lines(e)),
        default=26,
    )
    return 16 + max(method, 20) + 21 + 9 + 18 + max(where, 26)


def _table(b: TaskBoard) -> Table:
    table = Table(title=Text(f"{b.task}: confirmed on holdout, best first"))
    longest = max((len(e.method) for e in b.entries), default=8)  # a method's name is whole
    table.add_column(
        "method, configuration (vs naive)", overflow="fold", min_width=min(longest, 48)
    )
    table.add_column("holdout PGR [95% t]", min_width=16)
    table.add_column("seeds")
    table.add_column("vs naive [95% t]", min_width=16)
    table.add_column("session, finding, code", no_wrap=True, min_width=26)
    for e in b.entries:
        table.add_row(*_row(e))
    return table


def _compact(b: TaskBoard, width: int) -> Group:
    """A few lines an entry (a table at 80 columns gave the method 8 characters, ~30 lines an
    entry, and cropped the ids): the method with its verdict and holdout PGR; its edge over
    naive and seeds; where its evidence lives (whole ids); its configuration, cut at a word to
    the width (whole in the wide table and `--json`). A line too long for the width goes on
    between its parts, never inside one ("[0.401, 0.623]" and every id stay together)."""
    lines = [Text(f"{b.task}: confirmed on holdout, best first", style="bold")]
    for n, e in enumerate(b.entries, 1):
        vs = e.vs_naive
        edge = [f"vs naive {_num(vs.mean)} {_interval(vs.ci)}" if vs else "vs naive n/a"]
        if vs and vs.adjusted_p is not None:
            edge.append(f"Holm p {_num(vs.adjusted_p)}")
        seeds = f"{e.n_seeds} {'fresh' if e.fresh_seeds else 'own'} seed(s)"
        config = shown(" ".join((e.config_text or "—").split()), keep="")
        if not e.best_of_config:
            config = f"repeats a better row ({e.same_config} rows): {config}"
        head = [f"{n}. {shown(e.method, keep='')}", e.verdict, f"PGR {_num(e.pgr_mean)}"]
        head[-1] += f" {_interval(e.pgr_ci)}"
        lines += _pack(head, width, "  ", first=True)
        lines += _pack([*edge, seeds], width, " · ")
        where = [f"{e.session_id} round {e.round}", f"finding {e.finding_id or '—'}"]
        lines += _pack([*where, f"code {e.code_sha256[:12]}"], width, " · ")
        lines.append(Text("  " + clip(config, max(width - 2, 8)), style="dim"))
    return Group(*lines)


def _pack(parts: list[str], width: int, sep: str, first: bool = False) -> list[Text]:
    """`parts` joined by `sep` on as few lines as fit `width`, each part whole; lines after
    an entry's first are indented by two spaces. Agent text goes in as plain `Text`."""
    out: list[str] = []
    line = "" if first else "  "
    for part in parts:
        if line.strip() and len(line) + len(sep) + len(part) > width:
            out.append(line)
            line = "  "
        line += (sep if line.strip() else "") + part
    return [Text(x) for x in [*out, line]]


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)
