"""The team's pieces without a research round: the named scheduler, the lead's lock,
directed seeding and budget shares."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import LocalCluster

from aar.agent import REGIONS
from aar.session import SessionConfig
from aar.team import (
    TeamBudgets,
    TeamBusyError,
    TeamConfig,
    drive_team,
    enforce_team_budget,
    researcher_budgets,
    start_team,
    team_spend,
    team_status,
)
from aar.team._directions import spread_directions


def _config(**fields: object) -> TeamConfig:
    session = SessionConfig(tasks=["digits-ge5"], seeds=[42, 43], hypotheses=1)
    return TeamConfig.model_validate({"researchers": 2, "session": session} | fields)


def test_a_named_scheduler_is_used_and_one_lead_at_a_time(team_workspace: Path) -> None:
    """`--scheduler`: the lead connects to a running cluster (here a LocalCluster the test
    owns) instead of starting one; a second lead of the same team is refused in one line."""
    runs = team_workspace / "runs"
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # without it, distributed probes 8.8.8.8 for its own address
        dashboard_address=None,
    ) as cluster:
        team = start_team(runs, _config(scheduler=cluster.scheduler_address))
        with team.leading(), pytest.raises(TeamBusyError, match="driven by another lead"):
            drive_team(team, runs, [])
        drive_team(team, runs, [])  # no researcher to run: services, cluster, report
        assert cluster.scheduler is not None and cluster.scheduler.clients  # it was joined
    kinds = [e.kind for e in team.events()]
    assert kinds == ["started", "finished"]
    assert team_status(team, runs).finished and team.report_path.is_file()


def test_directions_spread_over_distinct_regions() -> None:
    given = ["geometry: label propagation"]
    spread = spread_directions(given, 6)
    assert spread[0] == (given[0], True)
    regions = [text.split(":")[0] for text, by_lead in spread[1:]]
    assert all(not by_lead for _, by_lead in spread[1:])
    assert len(set(regions)) == 5 and "geometry" not in regions and "controls" not in regions
    # every spread region adds families no earlier researcher had
    seen = set(REGIONS["geometry"])
    for region in regions[:3]:
        assert set(REGIONS[region]) - seen
        seen |= set(REGIONS[region])


def test_budget_shares() -> None:
    config = _config(researchers=4, budgets=TeamBudgets(evals=10, usd=2.0, tokens=1000))
    share = researcher_budgets(config)
    assert (share.evals, share.usd, share.tokens) == (2, 0.5, 250)
    unlimited = researcher_budgets(_config())
    assert unlimited.evals == _config().session.budgets.evals and unlimited.usd is None


def test_the_lead_stops_the_team_when_its_usd_total_is_spent(team_workspace: Path) -> None:
    """Each session keeps to its share; the lead sums what every session logged and stops
    the team (resumably) once the team's total is reached."""
    from aar.session import ModelUsage, Session

    runs = team_workspace / "runs"
    team = start_team(runs, _config(budgets=TeamBudgets(usd=0.05, tokens=10_000)))
    assert not enforce_team_budget(team, team_status(team, runs))
    for researcher, usd in zip(team.record.researchers, (0.02, 0.03), strict=True):
        session = Session.open(runs, researcher.session_id)
        try:
            session.emit(ModelUsage(model="openai:x", input_tokens=100, output_tokens=10, usd=usd))
        finally:
            session.shutdown()
    assert team_spend(team_status(team, runs)) == (pytest.approx(0.05), 220)
    assert enforce_team_budget(team, team_status(team, runs))
    assert team.stop_requested
    assert [e.kind for e in team.events()] == ["stop_requested"]
    assert "budget is spent" in team.events()[0].detail
