"""The team report, `runs/teams/<id>/report.md`: every researcher's session and report, who
was moved to another worker and why, how diverse the team's hypotheses were, and the
leaderboard of confirmed results. Researcher-written text is quoted as data (`aar.text`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from aar.files import write_atomic
from aar.team._status import ResearcherStatus, team_status
from aar.team._store import Team
from aar.text import markdown_inline


class Diversity(BaseModel):
    """What the team tried: distinct method families and configurations, in all and each."""

    families: list[str]
    configurations: list[str]
    per_researcher: dict[int, list[str]]


def team_diversity(team: Team, runs_dir: Path) -> Diversity:
    """Families and configurations (family with its parameters) of every hypothesis logged."""
    from aar.errors import AarError
    from aar.session import EventLog

    families: set[str] = set()
    configurations: set[str] = set()
    per: dict[int, list[str]] = {}
    for r in team.record.researchers:
        try:
            state = EventLog(runs_dir / r.session_id).state()
        except (AarError, OSError):
            per[r.index] = []
            continue
        mine: list[str] = []
        for h in state.hypotheses.values():
            family = h.family or h.method
            params = ",".join(f"{k}={v:g}" for k, v in sorted(h.params.items()))
            families.add(family)
            configurations.add(f"{family}({params})")
            if family not in mine:
                mine.append(family)
        per[r.index] = mine
    return Diversity(
        families=sorted(families), configurations=sorted(configurations), per_researcher=per
    )


def write_report(team: Team, runs_dir: Path) -> Path:
    status = team_status(team, runs_dir)
    diversity = team_diversity(team, runs_dir)
    config = team.record.config
    lines = [
        f"# Team {team.id}",
        "",
        f"- **Researchers:** {config.researchers} ({markdown_inline(config.session.model)})",
        f"- **Tasks:** {', '.join(config.session.tasks)}; "
        f"seeds {', '.join(map(str, config.session.seeds))}",
        f"- **Budgets:** {_budgets(team)}",
        "",
        "## Researchers",
        "",
        "| # | direction | session | state | round | hypotheses | evals | moved | ended |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_row(team, runs_dir, r) for r in status.researchers),
        "",
        *_moves(team),
        "## Diversity",
        "",
        f"{len(diversity.families)} distinct method families and "
        f"{len(diversity.configurations)} distinct configurations were tried.",
        "",
        *(
            f"- researcher {i}: {', '.join(markdown_inline(f) for f in fams) or 'none'}"
            for i, fams in diversity.per_researcher.items()
        ),
        "",
        *_leaderboard(team, runs_dir),
    ]
    write_atomic(team.report_path, "\n".join(lines))
    return team.report_path


def _budgets(team: Team) -> str:
    given = team.record.config.budgets
    share = team.record.researchers[0].budgets
    total = "unlimited" if given.evals is None else str(given.evals)
    usd = "" if given.usd is None else f"; USD {given.usd:g} in all"
    return f"evaluations {total} in all, {share.evals} per researcher{usd}"


def _row(team: Team, runs_dir: Path, r: ResearcherStatus) -> str:
    link = f"[{r.session_id}](../../{r.session_id}/)"
    if r.round:
        report = runs_dir / r.session_id / "rounds" / str(r.round) / "report.md"
        if report.is_file():
            link += f" ([report](../../{r.session_id}/rounds/{r.round}/report.md))"
    given = "" if team.record.researchers[r.index - 1].direction_given else " (spread)"
    return (
        f"| {r.index} | {markdown_inline(r.direction)}{given} | {link} | {r.state} | "
        f"{r.round} | {r.hypotheses} | {r.evals_used}/{r.evals_budget} | {r.moves} | "
        f"{r.outcome or ''} |"
    )


def _moves(team: Team) -> list[str]:
    moved = [e for e in team.events() if e.kind == "moved"]
    if not moved:
        return ["No session was moved to another worker.", ""]
    lines = ["## Moved sessions", ""]
    for e in moved:
        lines.append(
            f"- researcher {e.researcher}, {e.at:%H:%M:%S}: its worker was lost "
            f"({markdown_inline(e.detail)}); resumed on another worker"
        )
    return [*lines, ""]


def _leaderboard(team: Team, runs_dir: Path) -> list[str]:
    """The team's rows of the leaderboard: verdicts its sessions confirmed on holdout."""
    from aar.team._leaderboard import leaderboard

    mine = {r.session_id for r in team.record.researchers}
    rows = [e for e in leaderboard(runs_dir).entries() if e.session_id in mine]
    lines = [
        "## Leaderboard",
        "",
        "Verdicts this team's sessions confirmed on holdout; every session's, with links to "
        "findings and code: `aar leaderboard`, or the leaderboard page of `aar serve`.",
        "",
    ]
    if not rows:
        return [*lines, "No verdict was confirmed on holdout yet.", ""]
    lines += [
        "| task | method | verdict | holdout PGR [95 % CI] | seeds | session |",
        "|---|---|---|---|---|---|",
    ]
    for e in rows:
        lines.append(
            f"| {e.task} | {markdown_inline(e.method)} | {e.verdict} | {e.pgr_mean:.3f} "
            f"[{e.pgr_ci[0]:.3f}, {e.pgr_ci[1]:.3f}] | {e.n_seeds} | "
            f"[{e.session_id}](../../{e.session_id}/rounds/{e.round}/report.md) |"
        )
    return [*lines, ""]
