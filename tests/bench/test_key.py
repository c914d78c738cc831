"""The task key: created once, private, stable, and a damaged key is a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from aar.bench import TaskKeyError, get_task, key_id
from aar.bench._key import keyed_rng, task_key
from aar.bench._runner import load_data


def test_key_is_created_private_and_stable(new_key: Path) -> None:
    assert not new_key.exists()
    key = task_key()
    assert len(key) == 32 and new_key.read_bytes() == key
    assert stat.S_IMODE(new_key.stat().st_mode) == 0o600
    assert task_key() == key and len(key_id()) == 16
    a, b = keyed_rng("x", 1).random(4), keyed_rng("x", 1).random(4)
    assert np.array_equal(a, b) and not np.array_equal(a, keyed_rng("x", 2).random(4))


def test_damaged_key_is_refused_not_replaced(new_key: Path) -> None:
    new_key.parent.mkdir(parents=True, exist_ok=True)
    new_key.write_bytes(b"short")
    with pytest.raises(TaskKeyError, match="damaged"):
        task_key()
    assert new_key.read_bytes() == b"short"


def test_synthetic_pool_follows_the_key(request: pytest.FixtureRequest) -> None:
    """With a public seed alone the generator would give every label away."""
    task = get_task("synthetic-gap-small")
    before = load_data(task).x_strong.copy()
    assert np.array_equal(load_data(task).x_strong, before)  # cached, stable
    request.getfixturevalue("new_key")
    after = load_data(task).x_strong
    assert after.shape == before.shape and not np.allclose(after, before)
