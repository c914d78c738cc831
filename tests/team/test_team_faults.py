"""Faults a team survives: a researcher whose model fails ends cleanly while the other goes
on, and the sandbox conformance battery passes inside a Dask worker.

The model is a fake OpenAI-compatible server on 127.0.0.1 (`tools/fake_llm.py`): it answers
HTTP 500 to every request of researcher 1 (its goal names it) and plays a small researcher for
researcher 2, so one real team run shows both a failing researcher and the rest going on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aar.session import EventLog, SessionConfig
from aar.team import TeamConfig, drive_team, start_team, team_status

_REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(_REPO / "tools"), str(_REPO / "tests" / "session")]
from fake_llm import FakeLLM, HttpError, RecordedRequest, Turn  # noqa: E402
from llm_support import smoothing_researcher  # noqa: E402

pytestmark = pytest.mark.slow


def _split_model(failing: str) -> tuple[Any, list[str]]:
    """A provider that fails every request whose text names `failing`, and runs the smoothing
    researcher for everyone else; also the list of who asked (for the assertions)."""
    works = smoothing_researcher()
    asked: list[str] = []

    def answer(request: RecordedRequest) -> Turn:
        if failing in json.dumps(request.body):
            asked.append("failing")
            return HttpError(status=500, retry=True)
        asked.append("working")
        return works(request)

    return answer, asked


def test_a_researcher_whose_model_fails_ends_cleanly_and_the_rest_go_on(
    team_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runs = team_workspace / "runs"
    answer, asked = _split_model("researcher 1:")
    with FakeLLM(answer) as server:
        session = SessionConfig(
            tasks=["digits-ge5"],
            seeds=[42, 43],
            hypotheses=1,
            model="openai:fake-model",
            base_url=server.openai_base_url,
        )
        team = start_team(runs, TeamConfig(researchers=2, session=session))
        started = time.monotonic()
        drive_team(team, runs)
        took = time.monotonic() - started
    assert "failing" in asked and "working" in asked, asked
    assert took < 600

    ended = {e.researcher: e for e in team.events() if e.kind == "ended"}
    assert ended[1].outcome == "failed" and ended[1].exit_code == 1, ended[1]
    assert ended[2].outcome == "round_ended" and ended[2].exit_code == 0, ended[2]
    assert ended[1].at < ended[2].at  # researcher 2 went on after researcher 1 failed
    status = team_status(team, runs)
    assert status.finished and team.report_path.is_file()
    assert [r.outcome for r in status.researchers] == ["failed", "round_ended"]
    first, second = (EventLog(runs / r.session_id).state() for r in team.record.researchers)
    # the failed round ended cleanly: logged as failed, with a report, nothing left running
    assert first.rounds[-1].ended and first.state != "running", first.state
    assert first.usage.requests == 0  # no model answer ever came (its baselines did run)
    assert second.rounds[-1].ended and second.state == "closed"  # it proposed nothing
    assert second.usage.evals > 0 and second.hypotheses
    log = (team.root / "logs" / "researcher-1.log").read_text()
    assert "ENDED EARLY (failed)" in log, log[-2000:]
    report = team.report_path.read_text()
    for r in team.record.researchers:
        assert r.session_id in report


def run_battery_here(root: str, backend_name: str) -> dict[str, Any]:
    """The conformance battery on one backend, in this process (a Dask worker's task): every
    escape, ending and functional case; each failure by case."""
    from distributed import get_worker

    from aar.sandbox.conformance import (
        ENDING_CASES,
        ESCAPE_CASES,
        FUNCTIONAL_CASES,
        battery_policy,
        local_backends,
        planted_host,
        run_ending_case,
        run_escape_case,
        run_functional_case,
    )

    backend = next(b for b in local_backends() if b.name == backend_name)
    base = Path(root)
    ran: list[str] = []
    failures: dict[str, str] = {}

    def attempt(name: str, call: Any) -> None:
        ran.append(name)
        try:
            call()
        except Exception as exc:  # every case's failure is reported, not just the first
            failures[name] = f"{type(exc).__name__}: {exc}"[:500]

    with (
        planted_host(base / "escape") as places,
        backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox,
    ):
        for case in ESCAPE_CASES:
            attempt(f"escape:{case.id}", lambda c=case: run_escape_case(sandbox, places, c))
    cases = [("ending", n, run_ending_case) for n in sorted(ENDING_CASES)]
    cases += [("functional", n, run_functional_case) for n in sorted(FUNCTIONAL_CASES)]
    for kind, name, run in cases:
        with planted_host(base / f"{kind}-{name}") as places:
            attempt(f"{kind}:{name}", lambda r=run, p=places, n=name: r(backend, p, n))
    return {"ran": ran, "failures": failures, "pid": os.getpid(), "worker": get_worker().address}


def test_the_sandbox_conformance_battery_passes_inside_a_dask_worker(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from aar.sandbox.conformance import ENDING_CASES, ESCAPE_CASES, FUNCTIONAL_CASES

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        future = client.submit(run_battery_here, str(tmp_path), "bwrap", pure=False)
        result = future.result(timeout=590)
        workers = list(client.scheduler_info()["workers"])
    assert result["worker"] in workers and result["pid"] != os.getpid()
    assert len(result["ran"]) == len(ESCAPE_CASES) + len(ENDING_CASES) + len(FUNCTIONAL_CASES)
    assert not result["failures"], result["failures"]
