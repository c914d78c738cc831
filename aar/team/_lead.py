"""The team lead: the one process that holds the labels, and drives researchers on Dask.

`start_team` makes a session per researcher (the lead exports their public data, as
`aar run` would), then `drive_team` serves the scorer and the memory, starts or joins the
cluster, and hands each researcher to a worker. A researcher whose worker dies (`kill -9`) is
moved to another worker: its session resumes there, and the kill -9 guarantee of `aar resume`
means nothing is charged twice. A lead that dies itself leaves every session resumable by
`aar team resume`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aar.team._models import (
    MAX_MOVES,
    Outcome,
    Researcher,
    TeamConfig,
    TeamEvent,
    TeamRecord,
    new_team_id,
)
from aar.team._status import TeamStatus, team_status
from aar.team._store import Team
from aar.team._worker import ResearcherJob, ResearcherResult, run_researcher

if TYPE_CHECKING:
    from distributed import Client, Future

    from aar.session import Budgets

TICK_S = 1.0
"""How often the lead wakes to call `on_tick` (the live view) while researchers run."""


def start_team(runs_dir: Path, config: TeamConfig) -> Team:
    """A new team: its record and one new session per researcher (nothing runs yet)."""
    from aar.config import get_settings
    from aar.session import Session
    from aar.team._directions import spread_directions

    team_id = new_team_id()
    share = researcher_budgets(config)
    researchers = []
    for index, (direction, given) in enumerate(
        spread_directions(config.directions, config.researchers), 1
    ):
        goal = f"{config.session.goal} (team {team_id}, researcher {index}: {direction})"
        session = Session.create(
            runs_dir,
            config.session.model_copy(
                update={"goal": goal[:4000], "directions": [direction], "budgets": share}
            ),
        )
        session.shutdown()
        researchers.append(
            Researcher(
                index=index,
                direction=direction,
                direction_given=given,
                session_id=session.id,
                budgets=share,
            )
        )
    record = TeamRecord(
        id=team_id,
        created_at=datetime.now(UTC),
        config=config,
        researchers=researchers,
        memory_url=get_settings().memory.url,
    )
    return Team.create(runs_dir, record)


def researcher_budgets(config: TeamConfig) -> Budgets:
    """Each researcher's share of the team's budgets (its session enforces its share; the
    scorer service enforces the evaluations again, per researcher and in total)."""
    n = config.researchers
    given = config.budgets
    own = config.session.budgets
    update: dict[str, float | int] = {}
    if given.evals is not None:
        update["evals"] = min(own.evals, max(given.evals // n, 1))
    if given.usd is not None:
        update["usd"] = given.usd / n
    if given.tokens is not None:
        update["tokens"] = max(given.tokens // n, 1)
    return own.model_copy(update=update)


def drive_team(
    team: Team,
    runs_dir: Path,
    researchers: list[int] | None = None,
    *,
    on_tick: Callable[[TeamStatus], None] = lambda status: None,
) -> None:
    """Run `researchers` (default: all) until each one's process ends, then write the report."""
    from aar.team._report import write_report

    indexes = [r.index for r in team.record.researchers] if researchers is None else researchers
    with (
        team.leading(),
        _scorer_service(team) as scorer_url,
        _memory(team) as memory_url,
        _cluster(team.record.config, len(indexes)) as client,
    ):
        team.clear_stop()
        team.emit(TeamEvent(kind="started", detail=f"researchers {indexes}"))
        jobs = {
            i: ResearcherJob(
                team_dir=team.root.resolve(),  # workers may run elsewhere
                runs_dir=runs_dir.resolve(),
                index=i,
                session_id=team.record.researchers[i - 1].session_id,
                scorer_url=scorer_url,
                token_file=team.token_file.resolve(),
                memory_url=memory_url,
            )
            for i in indexes
        }
        _run_jobs(team, runs_dir, client, jobs, on_tick)
    team.emit(TeamEvent(kind="finished"))
    write_report(team, runs_dir)


def _run_jobs(
    team: Team,
    runs_dir: Path,
    client: Client,
    jobs: dict[int, ResearcherJob],
    on_tick: Callable[[TeamStatus], None],
) -> None:
    from distributed import wait

    running: dict[Future, ResearcherJob] = {}
    for job in jobs.values():
        running[_submit(team, client, job)] = job
    while running:
        try:
            done, _ = wait(list(running), timeout=TICK_S, return_when="FIRST_COMPLETED")
        except TimeoutError:  # nothing ended within the tick: refresh the view
            done = set()
        for future in done:
            job = running.pop(future)
            retry = _settle(team, future, job)
            if retry is not None:
                running[_submit(team, client, retry)] = retry
        status = team_status(team, runs_dir)  # read once a tick: the budget and the view
        enforce_team_budget(team, status)
        on_tick(status)


def _submit(team: Team, client: Client, job: ResearcherJob) -> Future:
    team.emit(TeamEvent(kind="assigned", researcher=job.index, detail=f"attempt {job.attempt}"))
    return client.submit(
        run_researcher, job, key=f"{team.id}-r{job.index}-a{job.attempt}", pure=False
    )


def _settle(team: Team, future: Future, job: ResearcherJob) -> ResearcherJob | None:
    """Log how a researcher's process ended; the job to run next if its worker died."""
    try:
        result: ResearcherResult = future.result()
    except Exception as exc:  # the worker died (KilledWorker) or the task could not run
        lost = type(exc).__name__
        if job.attempt + 1 > MAX_MOVES or team.stop_requested:
            team.emit(
                TeamEvent(
                    kind="ended",
                    researcher=job.index,
                    outcome="failed",
                    detail=f"{lost}: {exc}"[:2000],
                )
            )
            return None
        team.emit(TeamEvent(kind="moved", researcher=job.index, detail=f"{lost}: {exc}"[:2000]))
        return job.model_copy(update={"attempt": job.attempt + 1})
    team.emit(
        TeamEvent(
            kind="ended",
            researcher=job.index,
            worker=result.worker,
            exit_code=result.exit_code,
            outcome=_outcome(result),
        )
    )
    return None


def _outcome(result: ResearcherResult) -> Outcome:
    if result.skipped:
        return "skipped"
    if result.stopped or result.exit_code in (130, 143):
        return "interrupted"
    return "round_ended" if result.exit_code in (0, 3) else "failed"


@contextlib.contextmanager
def _scorer_service(team: Team) -> Iterator[str]:
    """The installation's scorer, served to the team with its budgets and its own token."""
    from aar.net import is_loopback
    from aar.scorer import Scorer, ScorerService, TeamBudget, read_token

    config = team.record.config
    share = researcher_budgets(config)
    budgets = TeamBudget(total_evals=config.budgets.evals, per_account_evals=share.evals)
    token = read_token(team.token_file, create=True)
    host = config.host
    remote = not is_loopback(host)
    with ScorerService(Scorer(), token, budgets, host=host, allow_remote=remote) as service:
        yield service.url


@contextlib.contextmanager
def _memory(team: Team) -> Iterator[str | None]:
    """The shared findings memory: the configured server, or one started on the local store."""
    from aar.config import get_settings
    from aar.memory import chroma_server

    settings = get_settings().memory
    if settings.url is not None:
        yield settings.url
        return
    with chroma_server(settings.path, host=team.record.config.host) as url:
        yield url


@contextlib.contextmanager
def _cluster(config: TeamConfig, researchers: int) -> Iterator[Client]:
    """The named scheduler, or a LocalCluster with one worker per researcher, up to the cores."""
    workers = max(1, min(researchers, os.cpu_count() or 1))
    with team_client(config.scheduler, workers) as client:
        yield client


@contextlib.contextmanager
def team_client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the named scheduler, or of a LocalCluster on loopback with `workers`
    single-threaded worker processes and no dashboard (the one cluster configuration the lead
    and `tools/bench/bench_team.py` use). A worker killed mid-task is reported, not silently
    re-run (`allowed-failures` 0): the lead moves the researcher itself and logs it."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        if scheduler is not None:
            with Client(scheduler) as client:
                yield client
            return
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # without it, distributed probes 8.8.8.8 for its address
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def team_spend(status: TeamStatus) -> tuple[float, int]:
    """USD and tokens every researcher's session has logged so far."""
    return sum(r.usd for r in status.researchers), sum(r.tokens for r in status.researchers)


def enforce_team_budget(team: Team, status: TeamStatus) -> bool:
    """The team owner's check of the team's USD and token totals: each session keeps to its
    share, and the lead stops every researcher (resumably) once the sum reaches the total, so
    a share no session spent cannot be spent twice by the others either."""
    given = team.record.config.budgets
    if team.stop_requested or (given.usd is None and given.tokens is None):
        return team.stop_requested
    usd, tokens = team_spend(status)
    over = (given.usd is not None and usd >= given.usd) or (
        given.tokens is not None and tokens >= given.tokens
    )
    if over:
        team.emit(
            TeamEvent(
                kind="stop_requested",
                detail=f"the team's budget is spent: USD {usd:.4f}, {tokens} tokens",
            )
        )
        team.request_stop()
    return over
