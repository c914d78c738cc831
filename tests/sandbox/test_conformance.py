"""The conformance battery (`aar.sandbox.conformance`) on every local backend.

Functional cases run on every backend, `none` included; escape cases on the isolating ones.
The leakage routes have their own module (`test_leakage.py`): they need real tasks.
"""

from __future__ import annotations

import pytest
from conftest import Shared

from aar.sandbox.conformance import (
    ENDING_CASES,
    ESCAPE_CASES,
    FUNCTIONAL_CASES,
    Backend,
    Case,
    HostPlaces,
    run_ending_case,
    run_escape_case,
    run_functional_case,
)


@pytest.mark.slow
@pytest.mark.parametrize("case", ESCAPE_CASES, ids=lambda c: c.id)
def test_escape_is_blocked(shared: Shared, case: Case) -> None:
    run_escape_case(shared.sandbox, shared.places, case)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENDING_CASES))
def test_sandbox_ending_case(isolating_backend: Backend, host_places: HostPlaces, name: str):
    run_ending_case(isolating_backend, host_places, name)


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_CASES))
def test_functional_case(backend: Backend, host_places: HostPlaces, name: str) -> None:
    run_functional_case(backend, host_places, name)


def test_battery_is_big_enough() -> None:
    assert len(ESCAPE_CASES) + len(ENDING_CASES) >= 29
