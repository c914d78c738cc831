"""`aar team start | status | resume | stop`: a research team of sessions on Dask.

The lead (`start`, `resume`) holds the labels and serves the scorer; each researcher's session
runs on a worker and scores through it. `status` and `stop` only read and flag files, so they
work from any terminal while a lead runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aar._cli.output import clip
from aar._cli.run import _check_model, _config
from aar.errors import UsageError
from aar.text import shown

if TYPE_CHECKING:
    from aar.session import SessionConfig
    from aar.team import ResearcherStatus, Team, TeamConfig, TeamStatus

team_app = typer.Typer(help="A research team: many sessions at once on Dask.", no_args_is_help=True)
TeamId = Annotated[str | None, typer.Argument(help="The team (default: the latest).")]


Researchers = Annotated[int, typer.Option("--researchers", "-n", help="How many.")]
Directions = Annotated[
    list[str] | None,
    typer.Option("--direction", "-d", help="One researcher's direction (repeatable)."),
]
Tasks = Annotated[list[str] | None, typer.Option("--task", "-t", help="Task (repeatable).")]
Model = Annotated[str, typer.Option(help="scripted | openai:NAME | anthropic:NAME.")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible.")]
Seeds = Annotated[int, typer.Option(help="Seeds per task (42 upwards).")]
Hypotheses = Annotated[int, typer.Option(help="Hypotheses per round.")]
TeamUsd = Annotated[
    float | None, typer.Option("--budget-usd", help="Model spend in USD, the whole team.")
]
TeamTokens = Annotated[
    int | None, typer.Option("--budget-tokens", help="Model tokens, the whole team.")
]
TeamEvals = Annotated[
    int | None,
    typer.Option(
        "--budget-evals",
        help="Scored test submissions, the whole team (the scorer enforces it; each "
        "researcher gets an equal share, at most what its round needs).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="A Dask scheduler, tcp://HOST:PORT (default: $AAR_DASK_SCHEDULER, "
        "else a LocalCluster on this machine)."
    ),
]
Host = Annotated[
    str,
    typer.Option(
        help="Where the lead serves the scorer and memory; a non-loopback address only for "
        "workers on other machines (with --scheduler)."
    ),
]


@team_app.command("start")
def start(
    researchers: Researchers = 2,
    direction: Directions = None,
    task: Tasks = None,
    model: Model = "scripted",
    base_url: BaseUrl = None,
    seeds: Seeds = 5,
    hypotheses: Hypotheses = 3,
    budget_usd: TeamUsd = None,
    budget_tokens: TeamTokens = None,
    budget_evals: TeamEvals = None,
    scheduler: Scheduler = None,
    host: Host = "127.0.0.1",
) -> None:
    """Start a team: one session per researcher, each on a Dask worker, one scorer."""
    from aar.team import start_team

    given = direction or []
    _check_counts(researchers, len(given), budget_evals, budget_tokens)
    # the team's USD and token budgets pass through the session checks (a priced model);
    # each session gets its share when the team is made
    session = _config(
        None, task, given, model, base_url, seeds, hypotheses, budget_usd, budget_tokens,
        None, None, None,
    )  # fmt: skip
    _check_model(session)
    config = _team_config(
        researchers,
        given,
        session.model_copy(update={"directions": []}),
        (budget_evals, budget_usd, budget_tokens),
        scheduler or os.environ.get("AAR_DASK_SCHEDULER") or None,
        host,
    )
    runs_dir = _runs_dir()
    team = start_team(runs_dir, config)
    Console(stderr=True).print(f"team [bold]{team.id}[/] in {team.root}", highlight=False)
    _drive(team, runs_dir, None)


def _check_counts(researchers: int, directions: int, evals: int | None, tokens: int | None) -> None:
    from aar.team import MAX_RESEARCHERS

    if not 1 <= researchers <= MAX_RESEARCHERS:
        raise UsageError(
            f"--researchers must be between 1 and {MAX_RESEARCHERS}, got {researchers}"
        )
    for name, value in (("--budget-evals", evals), ("--budget-tokens", tokens)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be 1 or more, got {value}")
    if directions > researchers:
        raise UsageError(f"{directions} --direction options for {researchers} researcher(s)")


@team_app.command("resume")
def resume(team_id: TeamId = None) -> None:
    """Continue every researcher whose session can go on (after a crash of anything)."""
    from aar.team import open_team, resumable

    runs_dir = _runs_dir()
    team = open_team(runs_dir, team_id)
    indexes = resumable(team, runs_dir)
    if not indexes:
        Console().print(f"team {team.id}: no session can go on (each is closed or awaits review)")
        return
    _drive(team, runs_dir, indexes)


@team_app.command("stop")
def stop(team_id: TeamId = None) -> None:
    """Ask every researcher to stop cleanly (resumable with `aar team resume`)."""
    from aar.team import open_team

    team = open_team(_runs_dir(), team_id)
    team.request_stop()
    Console().print(f"team {team.id}: stop requested; each session stops within a second")


@team_app.command("status")
def status(
    team_id: TeamId = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each researcher's session, round, latest hypothesis and budget."""
    from aar.team import open_team, team_status

    runs_dir = _runs_dir()
    team = open_team(runs_dir, team_id)
    now = team_status(team, runs_dir)
    if as_json:
        print(json.dumps(now.model_dump(mode="json"), indent=2))
        return
    Console().print(status_table(now))


WIDE = 120
"""From this many columns the status is one bordered row a researcher; below, two lines."""


def status_table(now: TeamStatus) -> _StatusView:
    """The live view and `aar team status`: laid out for the width it is drawn at (the
    terminal's, or the live display's), so the same object serves both."""
    return _StatusView(now)


class _StatusView:
    """Session ids are typed into other commands (the researchers' ids share their first 17
    characters, so a cut one is no id at all) and states are read whole: neither wraps nor
    shortens at any width. Researcher text is shown as text, hidden characters marked."""

    def __init__(self, now: TeamStatus) -> None:
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width >= WIDE:
            yield _wide_table(self.now)
        else:
            yield from _compact_lines(self.now, options.max_width)


def _title(now: TeamStatus) -> str:
    return f"team {now.id}" + (" (finished)" if now.finished else "")


def _state(r: ResearcherStatus) -> str:
    return r.state + (f" ({r.outcome})" if r.outcome else "")


def _wide_table(now: TeamStatus) -> Table:
    """One bordered row a researcher, the hypothesis cut at a word."""
    table = Table(title=_title(now), title_justify="left")
    for column in ("#", "session", "state", "round", "latest hypothesis", "evals", "moved"):
        table.add_column(column, no_wrap=column != "latest hypothesis")
    for r in now.researchers:
        hypothesis = clip(shown(r.hypothesis or "-", keep=""), 70)  # never mid-word
        table.add_row(
            str(r.index),
            r.session_id,
            _state(r),
            str(r.round),
            Text(hypothesis),
            f"{r.evals_used}/{r.evals_budget}",
            str(r.moves),
        )
    return table


def _compact_lines(now: TeamStatus, width: int) -> list[Text]:
    """Two lines a researcher (as `aar review list`): the columns one types or scans, each as
    wide as its longest value, then the latest hypothesis indented and cut at a word to the
    width (whole in `aar team status --json` and the session's report)."""
    header = ("#", "session", "state", "round", "evals", "moved")
    rows = [
        (str(r.index), r.session_id, _state(r), str(r.round), f"{r.evals_used}/{r.evals_budget}",
         str(r.moves))
        for r in now.researchers
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {0, 3, 4, 5}  # numbers line up on the right

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    indent = " " * (widths[0] + 2)
    lines = [Text(_title(now), style="italic"), Text(line(header), style="bold")]
    for r, cells in zip(now.researchers, rows, strict=True):
        hypothesis = shown(" ".join((r.hypothesis or "-").split()), keep="")
        lines += [Text(line(cells)), Text(indent + clip(hypothesis, max(width - len(indent), 8)))]
    return lines


def _drive(team: Team, runs_dir: Path, indexes: list[int] | None) -> None:
    from aar.team import drive_team, team_status

    console = Console(stderr=True)
    with Live(status_table(team_status(team, runs_dir)), console=console) as live:
        drive_team(
            team,
            runs_dir,
            indexes,
            on_tick=lambda status: live.update(status_table(status)),
        )
        live.update(status_table(team_status(team, runs_dir)))
    Console().print(f"team report: {team.report_path}", highlight=False, soft_wrap=True)


def _runs_dir() -> Path:
    from aar.config import get_settings
    from aar.files import check_dir_or_creatable

    runs_dir = get_settings().runs_dir
    check_dir_or_creatable(runs_dir, "runs directory")
    return runs_dir


def _team_config(
    researchers: int,
    directions: list[str],
    session: SessionConfig,
    budgets: tuple[int | None, float | None, int | None],
    scheduler: str | None,
    host: str,
) -> TeamConfig:
    from pydantic import ValidationError

    from aar.errors import validation_message
    from aar.team import TeamBudgets, TeamConfig

    evals, usd, tokens = budgets
    try:
        return TeamConfig(
            researchers=researchers,
            directions=directions,
            session=session,
            budgets=TeamBudgets(evals=evals, usd=usd, tokens=tokens),
            scheduler=scheduler,
            host=host,
        )
    except ValidationError as exc:
        raise UsageError(validation_message(exc)) from None
