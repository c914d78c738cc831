"""Fixtures of the sandbox tests: each conformance case runs on every local backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aar.sandbox import Sandbox
from aar.sandbox.conformance import (
    Backend,
    HostPlaces,
    battery_policy,
    local_backends,
    planted_host,
)

BACKENDS = local_backends()
ISOLATING = [b for b in BACKENDS if b.isolating]


@dataclass
class Shared:
    """One started sandbox of a backend, shared by the cheap cases of a module."""

    backend: Backend
    places: HostPlaces
    sandbox: Sandbox


@pytest.fixture
def host_places(tmp_path: Path) -> Iterator[HostPlaces]:
    """Planted host places for one test."""
    with planted_host(tmp_path) as places:
        yield places


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every local backend, isolating or not."""
    return request.param


@pytest.fixture(params=ISOLATING, ids=lambda b: b.name)
def isolating_backend(request: pytest.FixtureRequest) -> Backend:
    """Every local backend that claims isolation."""
    return request.param


@pytest.fixture(scope="module", params=ISOLATING, ids=lambda b: b.name)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """One started sandbox per isolating backend for the module, on planted host places."""
    backend: Backend = request.param
    with (
        planted_host(tmp_path_factory.mktemp(backend.name)) as places,
        backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox,
    ):
        yield Shared(backend, places, sandbox)
