"""An offline research round as `aar run` starts it by default, and where its time goes.

Run: `.venv/bin/python tools/bench/bench_session.py [--tasks digits-ge5 synthetic-gap-medium]
[--seeds 5] [--hypotheses 3]`. It creates a throw-away runs/ and memory/, runs one scripted
round to its report, and prints the wall time split into kernel starts, cells (training),
evaluation, git, memory, report and the agent loop's own overhead per step (the loop's wall
time minus the time inside tools and inside the model, per model request). Targets: the round
<= 120 s on 2 cores (text-embedding cache built beforehand), agent overhead <= 50 ms a step.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)
TARGETS = {"round_s": 120.0, "agent_step_ms": 50.0}


def _timed(owner: Any, name: str, label: str) -> None:
    """Accumulate the wall time of `owner.name` under `label`."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - t0
            COUNTS[label] += 1

    setattr(owner, name, wrapper)


def _timed_async(owner: Any, name: str, label: str) -> None:
    """`_timed` for a coroutine method (the time until it returns, awaits included)."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - t0
            COUNTS[label] += 1

    setattr(owner, name, wrapper)


def _instrument() -> None:
    from pydantic_ai import Agent

    from aar.agent import _research, _tools
    from aar.memory import FindingsStore
    from aar.sandbox import KernelSandbox
    from aar.sandbox._jupyter import KernelProcess
    from aar.session import _report, _session
    from aar.session._ledger import EvaluationLedger
    from aar.session._workspace import Workspace

    _timed(KernelProcess, "start", "kernel start")
    _timed(KernelSandbox, "run_cell", "cells (training)")
    _timed(EvaluationLedger, "score_test", "evaluation (test)")
    _timed(EvaluationLedger, "score_holdout", "evaluation (holdout)")
    _timed(EvaluationLedger, "evaluator", "evaluation (evaluator setup)")
    _timed(Workspace, "commit", "git")
    _timed(FindingsStore, "add_many", "memory (store)")
    _timed(FindingsStore, "search", "memory (search)")
    _timed(_report, "write_report", "report")
    _timed(_session.Session, "create", "session create (public export)")
    _timed(_session.Session, "end_round", "end of round (holdout, memory, report)")
    _timed_async(_tools.SessionToolset, "call_tool", "tools (all)")
    _timed(_research, "_run_agent", "agent setup, run and end of round")
    _timed(Agent, "run_sync", "agent loop (all)")
    _patch_model_time()


STEPS: list[float] = []
"""Per model request: SessionModel's own time (budget checks, token count, history save)."""


def _patch_model_time() -> None:
    """Time inside the researcher's model (FunctionModel), and SessionModel's own per step."""
    from pydantic_ai.models.function import FunctionModel

    from aar.agent._model import SessionModel

    original = FunctionModel.request
    wrapper = SessionModel.request

    async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            TIMES["model"] += time.perf_counter() - t0
            COUNTS["model"] += 1

    async def session_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        inner, t0 = TIMES["model"], time.perf_counter()
        try:
            return await wrapper(self, *args, **kwargs)
        finally:
            STEPS.append(time.perf_counter() - t0 - (TIMES["model"] - inner))

    FunctionModel.request = request  # type: ignore[method-assign]
    SessionModel.request = session_request  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hypotheses", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aar-bench-session-") as tmp:
        os.environ["AAR_RUNS_DIR"] = str(Path(tmp) / "runs")
        os.environ["AAR_MEMORY_PATH"] = str(Path(tmp) / "memory")
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from aar.agent import run_round, start_round
    from aar.config import get_settings
    from aar.session import DEFAULT_TASKS, Session, SessionConfig

    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    tasks = args.tasks or list(DEFAULT_TASKS)
    config = SessionConfig(
        tasks=tasks, seeds=list(range(42, 42 + args.seeds)), hypotheses=args.hypotheses
    )
    from aar.bench import get_task

    for task in tasks:  # build any text-embedding cache first (excluded from the target)
        get_task(task).load()
    _instrument()
    t0 = time.perf_counter()
    session = Session.create(get_settings().runs_dir, config)
    try:
        start_round(session)
        why = run_round(session)
    finally:
        session.shutdown()
    total = time.perf_counter() - t0
    _print(total, why, session)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    steps = max(COUNTS["model"], 1)
    overhead_ms = 1000 * (TIMES["agent loop (all)"] - TIMES["tools (all)"] - TIMES["model"]) / steps
    ok = total <= TARGETS["round_s"] and overhead_ms <= TARGETS["agent_step_ms"]
    return 0 if ok else 1


def _print(total: float, why: str, session: Any) -> None:
    state = session.state
    print(
        f"round: {total:.1f} s ({why}); {len(state.config.tasks)} tasks x "
        f"{len(state.config.seeds)} seeds, {len(state.hypotheses)} hypotheses, "
        f"{len(state.evaluations)} test + {len(state.holdout)} holdout evaluations, "
        f"{len(state.findings)} findings, {len(state.proposals)} proposals"
    )
    for label in sorted(TIMES):
        print(f"  {label:32s} {TIMES[label]:7.2f} s  ({COUNTS[label]} calls)")
    steps = COUNTS["model"]
    loop = TIMES["agent loop (all)"] - TIMES["tools (all)"] - TIMES["model"]
    print(
        f"agent overhead: {loop:.2f} s over {steps} steps = {1000 * loop / max(steps, 1):.1f} ms "
        f"per step (target <= {TARGETS['agent_step_ms']:g}): the agent loop's wall time "
        "(Agent.run_sync) minus the time inside tools and inside the model"
    )
    if STEPS:
        ms = sorted(1000 * s for s in STEPS)
        print(
            f"  of which the session's model wrapper (budget checks, token count, history "
            f"save): median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms per step"
        )


if __name__ == "__main__":
    raise SystemExit(main())
