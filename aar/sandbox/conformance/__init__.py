"""The conformance battery every sandbox backend must pass, in the manner of Inspect AI's
sandbox `self_check`: functional cases (all backends), escape cases and leakage routes
(isolating backends). A backend is described by a `Backend` (how to open one, how to find
its processes); the battery needs nothing else, so a remote backend passes it unchanged.

    from aar.sandbox.conformance import local_backends, planted_host, run_escape_case, ...

The test suite runs every case on every local backend (`tests/sandbox/test_conformance.py`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from aar.sandbox._environment import Sandbox
from aar.sandbox.conformance._backend import Backend, battery_policy, local_backends
from aar.sandbox.conformance._checks import Case, expect
from aar.sandbox.conformance._escapes import ENDING_CASES, ESCAPE_CASES
from aar.sandbox.conformance._functional import FUNCTIONAL_CASES
from aar.sandbox.conformance._host import (
    GT_MARKER,
    REPO,
    SECRET,
    ConformanceError,
    HostPlaces,
    fake_public_task,
    planted_host,
)
from aar.sandbox.conformance._leakage import (
    ROUTE_CHECKS,
    ROUTES,
    LeakageTarget,
    leakage_target,
    route_result,
    submission,
)

__all__ = [
    "ENDING_CASES",
    "ESCAPE_CASES",
    "FUNCTIONAL_CASES",
    "GT_MARKER",
    "REPO",
    "ROUTES",
    "ROUTE_CHECKS",
    "SECRET",
    "Backend",
    "Case",
    "ConformanceError",
    "HostPlaces",
    "LeakageTarget",
    "battery_policy",
    "fake_public_task",
    "leakage_target",
    "local_backends",
    "planted_host",
    "route_result",
    "run_ending_case",
    "run_escape_case",
    "run_functional_case",
    "run_leakage_route",
    "submission",
]


def run_escape_case(sandbox: Sandbox, places: HostPlaces, case: Case) -> None:
    """One hostile cell in a shared sandbox: its outcome, an unharmed host, a live sandbox."""
    host_child = subprocess.Popen(["sleep", "60"])  # shares the caller's process group
    try:
        result = sandbox.run_cell(case.code(places), timeout=case.timeout)
        case.check(result, places)
        if case.after is not None:
            case.after(sandbox)
        expect(host_child.poll() is None, "a host process died")
    finally:
        host_child.kill()
        host_child.wait()
    places.check_unharmed()
    after = sandbox.run_cell("40 + 2", timeout=30)
    expect(after.status == "ok" and after.text == "42", f"the sandbox stopped answering: {after}")


def run_ending_case(backend: Backend, places: HostPlaces, name: str) -> None:
    """A case that ends its sandbox; then the host is unharmed and a next experiment works."""
    ENDING_CASES[name](backend, places)
    places.check_unharmed()
    _next_experiment_works(backend, places)


def run_functional_case(backend: Backend, places: HostPlaces, name: str) -> None:
    """Behaviour every backend must have (isolating or not)."""
    FUNCTIONAL_CASES[name](backend, places)
    _next_experiment_works(backend, places)


def run_leakage_route(sandbox: Sandbox, target: LeakageTarget, route: str) -> dict[str, object]:
    """Run one route's hostile cell; assert its specific blocked outcome; return its report.

    Scoring its submissions (no better than the weak labels' student) is the caller's part,
    since it needs the evaluator: see `tests/sandbox/test_leakage.py`.
    """
    result = sandbox.run_cell(target.cell(route), timeout=300)
    got = route_result(result)
    ROUTE_CHECKS[route](got)
    return got


def _next_experiment_works(backend: Backend, places: HostPlaces) -> None:
    with backend.open(Path(places.root) / "next", places.task_dir, battery_policy()) as sandbox:
        expect(sandbox.run_cell("40 + 2").text == "42", "the next experiment does not start")
    import shutil

    shutil.rmtree(Path(places.root) / "next", ignore_errors=True)
