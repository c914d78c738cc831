"""Fixtures of the sandbox tests; the helpers they use live in `sandbox_support.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_support import (
    SANDBOX_FACTORIES,
    HostPlaces,
    SandboxFactory,
    Shared,
    planted_host,
    small_policy,
)


@pytest.fixture
def host_places(tmp_path: Path) -> Iterator[HostPlaces]:
    """Host places for one test (see `planted_host`)."""
    with planted_host(tmp_path) as places:
        yield places


@pytest.fixture(params=SANDBOX_FACTORIES, ids=lambda f: f.name)
def factory(request: pytest.FixtureRequest) -> SandboxFactory:
    """Each conformance test runs once per backend."""
    return request.param


@pytest.fixture(scope="module", params=SANDBOX_FACTORIES, ids=lambda f: f.name)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """One started sandbox per backend for the module, on planted host places."""
    factory: SandboxFactory = request.param
    with (
        planted_host(tmp_path_factory.mktemp(factory.name)) as places,
        factory.open(places.run_dir, places.task_dir, small_policy()) as sandbox,
    ):
        yield Shared(factory, places, sandbox)
