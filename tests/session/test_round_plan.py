"""A round does what it was asked to do: aar's budgets are its only limits, they are sized to
the round before anything runs, and a round that ends early says so first and in its exit code.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from session_support import run_aar, run_scripted, session_of, small_config

from aar.bench import list_tasks
from aar.session import Budgets, SessionConfig, plan_round, sized_budget

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import FakeLLM, MalformedToolCall, RecordedRequest


def _sessions(workspace: Path) -> list[Path]:
    runs = workspace / "runs"
    return sorted(runs.glob("s-*")) if runs.is_dir() else []


@pytest.mark.parametrize(
    ("tasks", "seeds", "hypotheses"),
    [
        (["digits-ge5", "synthetic-gap-medium"], 5, 3),  # the default round
        (None, 5, 3),  # every built-in task
        (None, 5, 6),  # every built-in task, six hypotheses (measured: stopped after ~2.5)
    ],
)
def test_sized_budgets_cover_the_round(tasks, seeds, hypotheses) -> None:
    config = SessionConfig(
        tasks=tasks or [t.name for t in list_tasks()],
        seeds=list(range(42, 42 + seeds)),
        hypotheses=hypotheses,
    )
    sized = config.model_copy(
        update={
            "budgets": Budgets(
                evals=sized_budget("evals", config), requests=sized_budget("requests", config)
            )
        }
    )
    plan = plan_round(sized)
    pairs = len(config.tasks) * seeds
    assert plan.evaluations >= (2 + hypotheses) * pairs  # baselines + one method per hypothesis
    assert plan.shortfalls() == []
    assert plan.evals_budget >= plan.evaluations and plan.requests_budget >= plan.requests


def test_a_configured_budget_too_small_for_the_round_is_one_line(workspace: Path) -> None:
    done = run_aar(
        "run", "--seeds", "5", "--hypotheses", "6", cwd=workspace, env={"AAR_SESSION__EVALS": "50"}
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "evals = 50 cannot cover this round" in lines[0], lines
    # 10 pairs x (2 baselines + 6 hypotheses x 4 searched configurations + 3 follow-up values)
    assert "needs about 290 evaluations" in lines[0], lines
    assert _sessions(workspace) == []


def test_a_model_endpoint_with_nothing_listening_is_refused_before_anything_runs(
    workspace: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    done = run_aar("run", "--model", "openai:local-model", "--base-url", url, cwd=workspace)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and f"cannot reach the model at {url}" in lines[0], lines
    assert _sessions(workspace) == []


def _many_steps():
    for _ in range(60):  # more requests than pydantic-ai's default request_limit of 50
        yield ("list_tasks", {})
    yield ("finish_round", {"summary": "looked at the tasks many times"})


@pytest.mark.slow
def test_no_library_default_ends_a_round(workspace: Path) -> None:
    with session_of(small_config(budgets=Budgets(requests=100))) as session:
        why = run_scripted(session, _many_steps)
        info = session.state.rounds[-1]
        assert why == "finished by the agent" and info.outcome == "completed", why
        assert session.state.usage.requests == 61
        report = (session.root / "rounds/1/report.md").read_text()
        assert "ended early" not in report


@pytest.mark.slow
def test_a_budget_the_user_chose_cuts_the_round_and_says_so(workspace: Path) -> None:
    args = ["--task", "digits-ge5", "--seeds", "2", "--hypotheses", "2", "--budget-evals", "5"]
    done = run_aar("run", *args, cwd=workspace)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "ENDED EARLY (budget)" in done.stdout, done.stdout
    (root,) = _sessions(workspace)
    config = json.loads((root / "session.json").read_text())
    assert config["budgets"]["evals"] == 5  # typed on the command line: respected
    lines = (root / "rounds/1/report.md").read_text().splitlines()
    assert lines[2].startswith("> **This round ended early (a budget ran out)"), lines[:6]
    assert "Cut by choice: the evaluation budget (5) is smaller than" in "\n".join(lines[:8])


def _malformed(request: RecordedRequest) -> MalformedToolCall:
    return MalformedToolCall(name="evaluate", raw='{"method": "naive", ')


@pytest.mark.slow
def test_a_round_the_model_could_not_drive_exits_non_zero_and_says_why(workspace: Path) -> None:
    with FakeLLM(_malformed) as server:
        args = ["--task", "digits-ge5", "--seeds", "2", "--hypotheses", "1"]
        model = ["--model", "openai:broken", "--base-url", server.openai_base_url]
        done = run_aar("run", *args, *model, cwd=workspace)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "ENDED EARLY (failed): the model failed" in done.stdout, done.stdout
    (root,) = _sessions(workspace)
    report = (root / "rounds/1/report.md").read_text()
    first = report.splitlines()[2]
    assert first.startswith("> **This round ended early (it could not be driven)"), first
    assert "the round: the model failed" in report and "none noted" not in report


def test_a_sweep_proposal_estimates_one_evaluation_per_method_and_pair() -> None:
    """A new user's walkthrough found a 3-value sweep estimated at 10 evaluations that took 30:
    the library's scripts name their method `METHOD = "..."`, not `name="..."`."""
    from aar.agent import experiment_code
    from aar.session._actions import estimated_evaluations

    values = (0.25, 0.75, 1.0)
    code = "".join(
        experiment_code("logconf", method=f"logconf-aux_coef-{v}", params={"aux_coef": v})
        for v in values
    )
    assert estimated_evaluations(code, pairs=10) == 30
