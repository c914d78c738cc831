"""Split protocol invariants: disjoint, complete, stratified, deterministic, no order leak."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aar.bench import SPLIT_FRACTIONS, InvalidSeedsError, make_splits, setup_seed
from aar.bench._protocol import PUBLIC_SPLITS
from aar.bench._runner import load_data

SPLITS = tuple(SPLIT_FRACTIONS)


def test_splits_are_disjoint_and_cover_the_pool(tiny) -> None:
    data = load_data(tiny)
    s = make_splits(data.y, 2, 42)
    rows = np.concatenate([s.rows(name) for name in SPLITS])
    assert len(rows) == len(data.y)
    assert len(np.unique(rows)) == len(rows)


def test_splits_are_deterministic_per_seed_and_differ_across_seeds(tiny) -> None:
    y = load_data(tiny).y
    a, b, c = make_splits(y, 2, 42), make_splits(y, 2, 42), make_splits(y, 2, 43)
    for name in SPLITS:
        assert np.array_equal(a.rows(name), b.rows(name))
        assert not np.array_equal(a.rows(name), c.rows(name))
    assert a.sizes() == c.sizes()  # same sizes per seed: seeds can be batched


def test_splits_are_stratified_with_a_validation_part(tiny3) -> None:
    y = load_data(tiny3).y
    s = make_splits(y, 3, 44)
    overall = np.bincount(y) / len(y)
    for name in SPLITS:
        share = np.bincount(y[s.rows(name)], minlength=3) / len(s.rows(name))
        assert np.abs(share - overall).max() < 0.02
    assert s.transfer_is_val.dtype == bool
    assert 0.15 < s.transfer_is_val.mean() < 0.25


def test_source_order_does_not_leak_into_ids_or_split_order(tiny) -> None:
    """The tiny pool is sorted by class, like the Rotten Tomatoes file."""
    data = load_data(tiny)
    assert (np.diff(data.y) >= 0).all()
    setup = setup_seed(tiny, data, 42)
    ids = np.concatenate([setup.public.ids[name] for name in PUBLIC_SPLITS])
    assert len(np.unique(ids)) == len(ids)
    for name in PUBLIC_SPLITS:
        for rows in (setup.splits.rows(name), setup.public_rows(name)):
            labels = data.y[rows]
            # neither the position in the split nor the id separates the classes
            assert _auc_z(labels, np.arange(len(rows))) < 4
        assert _auc_z(labels, setup.public.ids[name]) < 4


def _auc_z(labels: np.ndarray, scores: np.ndarray) -> float:
    """|AUC - 1/2| in standard errors of an AUC of a random order (Mann-Whitney's null).

    A leak of the class-sorted source order gives AUC near 1 (z near 13 at 180 rows); a bound
    of 4 errors fails an honest order with probability 6e-5 per check, under any task key.
    """
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    null_sd = np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
    return float(abs(roc_auc_score(labels, scores) - 0.5) / null_sd)


def test_public_view_is_keyed_not_a_function_of_the_seed(tiny, request) -> None:
    """The public split RNG lays each split out class by class before shuffling: with the
    seed alone an attacker could tell every exported row's class. The exported order and ids
    must come from the installation's key, stay fixed under it, and change with it."""
    data = load_data(tiny)
    first, again = setup_seed(tiny, data, 42), setup_seed(tiny, data, 42)
    for name in PUBLIC_SPLITS:
        assert np.array_equal(first.public.ids[name], again.public.ids[name])
        assert np.array_equal(first.public.order[name], again.public.order[name])
    request.getfixturevalue("new_key")
    other = setup_seed(tiny, data, 42)
    for name in PUBLIC_SPLITS:
        assert np.array_equal(first.splits.rows(name), other.splits.rows(name))  # membership
        assert not np.array_equal(first.public.ids[name], other.public.ids[name])
        assert not np.array_equal(first.public_rows(name), other.public_rows(name))


def test_weak_soft_labels_are_probabilities(tiny3) -> None:
    setup = setup_seed(tiny3, load_data(tiny3), 42)
    for split in ("transfer", "test", "holdout"):
        p = setup.weak_probs[split]
        assert p.dtype == np.float32 and p.shape == (len(setup.splits.rows(split)), 3)
        assert np.allclose(p.sum(1), 1, atol=1e-5)
    weak_acc = (setup.weak_probs["test"].argmax(1) == setup.labels("test")).mean()
    assert 0.4 < weak_acc < 0.9  # better than chance, not perfect


def test_negative_seed_is_a_user_error(tiny) -> None:
    with pytest.raises(InvalidSeedsError, match="non-negative"):
        make_splits(load_data(tiny).y, 2, -1)
