"""The method space (`sandbox/kernel/aar_recipes`): the legacy families are configurations that
train exactly what `aar_methods` trains, every component is sane on binary, multiclass and
embedding-like tasks, the target transforms do what they claim, configurations validate, and
the digest a script pins covers every file of both packages.

Real training throughout, on small tasks (breast-cancer, digits-10, a 1500-row synthetic task
with 32 dense features), two seeds each.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from aar.agent._experiments import FAMILIES
from aar.bench import Task, list_tasks
from aar.bench._methods import seed_data
from aar.bench._protocol import setup_seed
from aar.bench._train import library, library_dir, recipes
from aar.bench.tasks import make_synthetic_task

lib, rec = library(), recipes()
MethodConfig = rec.MethodConfig
SEEDS = (42, 43)
SYNTHETIC = "recipes-synthetic"
TASKS = ("breast-cancer", "digits-10", "rt-sentiment", SYNTHETIC)
"""Binary, 10-class, text embeddings (MiniLM) and dense synthetic inputs."""


@cache
def _pairs(name: str) -> tuple:
    """The (task, seed) pairs of `name` as the kernel sees them (`aar_methods.SeedData`)."""
    task: Task
    if name == SYNTHETIC:  # dense 32-d inputs, like a text embedding; cheap
        task = make_synthetic_task(1.0, n=1500, name=SYNTHETIC)
    else:
        task = {t.name: t for t in list_tasks()}[name]
    data = task.load()
    x = data.x_strong.astype(np.float32)
    return tuple(seed_data(setup_seed(task, data, s), x) for s in SEEDS)


@cache
def _trained(name: str, raw: str) -> tuple:
    """`train_config` of a configuration (as JSON, to cache it) on both pairs of a task."""
    return tuple(rec.train_config(MethodConfig.model_validate_json(raw), list(_pairs(name))))


def _legacy_params(family: str) -> dict:
    """A family's parameters at the defaults aar's experiment catalogue uses."""
    spec = FAMILIES[family]
    return {} if spec.param is None else {spec.param.name: spec.param.default}


def _same(a, b) -> bool:
    """Equal test and holdout probabilities, pair by pair."""
    pairs = zip(a, b, strict=True)
    return all(np.array_equal(x.probs[s], y.probs[s]) for x, y in pairs for s in lib.SPLITS)


# ------------------------------------------------------------- equivalence with aar_methods


def test_the_ten_frozen_families_have_catalogue_entries_and_configurations() -> None:
    """The ten frozen families are in aar's catalogue (which may add configurations)."""
    assert len(lib.METHODS) == 10 and set(lib.METHODS) <= set(FAMILIES)
    assert set(lib.METHODS) <= set(rec.FAMILY_CONFIGS)


@pytest.mark.parametrize("family", sorted(lib.METHODS))
@pytest.mark.parametrize("task", ["breast-cancer", "digits-10"])
def test_each_legacy_family_is_its_configuration(task: str, family: str) -> None:
    """Prediction for prediction: a family's configuration trains the model `aar_methods`
    trains for it, so earlier scripts' numbers still stand next to configurations."""
    data = list(_pairs(task))
    frozen = lib.train(family, data, _legacy_params(family))
    config = rec.FAMILY_CONFIGS[family]
    assert _same(frozen, rec.train_config(config, data)), (task, family)


@pytest.mark.parametrize(
    ("family", "params", "raw"),
    [
        ("early_stopping", {"patience": 1}, {"training": {"early_stopping": True, "patience": 1}}),
        ("confidence_filter", {"keep_fraction": 0.3}, {"selection": {"keep_fraction": 0.3}}),
    ],
)
@pytest.mark.parametrize("task", ["breast-cancer", "digits-10"])
def test_families_away_from_their_defaults_match_too(
    task: str, family: str, params: dict, raw: dict
) -> None:
    data = list(_pairs(task))
    frozen = lib.train(family, data, params)
    assert _same(frozen, rec.train_config(MethodConfig.model_validate(raw), data))


# ------------------------------------------------------------- every component, sane


COMPONENTS: dict[str, tuple[dict, str]] = {
    "hard": ({"labels": {"kind": "hard"}}, ""),
    "balanced_hard": ({"labels": {"kind": "balanced_hard"}}, ""),
    "temperature": ({"labels": {"temperature": 3.0}}, ""),
    "smoothing": ({"labels": {"smoothing": 0.3}}, ""),
    "geometry": ({"geometry": {"neighbours": 10, "steps": 10}}, "propagation changed"),
    "relabel": ({"relabel": {"folds": 3}}, "cross-fitted labels"),
    "selection": ({"selection": {"keep_fraction": 0.5, "weighting": "confidence"}}, ""),
    "loss": ({"loss": {"aux_coef": 0.5}}, ""),
    "loss_balanced": ({"loss": {"aux_coef": 0.75, "hardening": "balanced"}}, ""),
    "early_stopping": ({"training": {"early_stopping": True}}, "kept epoch"),
    "bootstrap": ({"training": {"bootstrap_stages": 2}}, "2 stepping stone(s)"),
    "self_training": ({"training": {"self_training_rounds": 1}}, ""),
    "ensemble": ({"ensemble": {"members": 3, "bagging": True}}, "3 members averaged"),
    "random_flip": ({"control": {"random_flip": 1.0}}, "flip rate"),
}
"""Each component turned on (the config) and what its note says (empty: nothing asserted)."""


@pytest.mark.parametrize("component", list(COMPONENTS))
@pytest.mark.parametrize("task", TASKS)
def test_every_component_is_sane_and_deterministic(task: str, component: str) -> None:
    """Probabilities of the right shape, finite, rows summing to 1, different from naive (the
    component is really on); trained again, alone, the second pair gives identical arrays
    (deterministic, and a pair does not depend on the pairs trained beside it)."""
    raw, said = COMPONENTS[component]
    config = MethodConfig.model_validate(raw)
    data = _pairs(task)
    outcomes = _trained(task, config.model_dump_json())
    naive = _trained(task, MethodConfig().model_dump_json())
    for d, out, plain in zip(data, outcomes, naive, strict=True):
        for split in lib.SPLITS:
            p = out.probs[split]
            assert p.shape == (len(d.rows[split]), d.n_classes), split
            assert p.dtype == np.float32 and np.isfinite(p).all()
            assert (p >= 0).all() and np.allclose(p.sum(1), 1.0, atol=1e-5)
        assert not np.array_equal(out.probs["holdout"], plain.probs["holdout"])
        assert said in out.note, out.note
    again = rec.train_config(config, [data[1]])[0]
    assert _same([outcomes[1]], [again])


# ------------------------------------------------------------- balanced_argmax


def test_balanced_argmax_counts_are_the_rounded_quotas() -> None:
    rng = np.random.default_rng(0)
    for n, k in ((103, 2), (250, 4), (997, 10)):
        probs = rng.dirichlet(np.ones(k), n)
        shares = rng.dirichlet(np.ones(k) * 2)
        counts = np.bincount(rec.balanced_argmax(probs, shares), minlength=k)
        assert counts.sum() == n
        assert (np.abs(counts - shares * n) < 1).all(), (counts, shares * n)
        exact = np.bincount(rng.integers(0, k, n), minlength=k)  # shares * n are integers
        counts = np.bincount(rec.balanced_argmax(probs, exact / n), minlength=k)
        assert np.array_equal(counts, exact)


def test_balanced_argmax_is_the_argmax_when_the_quotas_allow_it() -> None:
    rng = np.random.default_rng(1)
    for k in (2, 3, 10):
        probs = rng.dirichlet(np.ones(k), 400)
        top = probs.argmax(1)
        shares = np.bincount(top, minlength=k) / len(top)
        assert np.array_equal(rec.balanced_argmax(probs, shares), top)


def test_balanced_argmax_prevents_a_multiclass_collapse() -> None:
    """A student putting 0.9 on class 0 everywhere: argmax gives one class, quotas all ten."""
    rng = np.random.default_rng(2)
    n, k = 200, 10
    rest = rng.dirichlet(np.ones(k - 1), n) * 0.1
    probs = np.hstack([np.full((n, 1), 0.9), rest])
    assert (probs.argmax(1) == 0).all()
    labels = rec.balanced_argmax(probs, np.full(k, 1 / k))
    assert np.array_equal(np.bincount(labels, minlength=k), np.full(k, n // k))


# ------------------------------------------------------------- propagate


def _clusters(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two well-separated Gaussian clusters, their classes, and one-hot labels with `noise`
    of them flipped."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 150)
    x = rng.normal(size=(300, 6)) + 6.0 * y[:, None]
    noisy = y.copy()
    flip = rng.random(300) < noise
    noisy[flip] = 1 - noisy[flip]
    return x.astype(np.float32), y, np.eye(2, dtype=np.float32)[noisy]


def test_propagate_without_neighbours_returns_the_targets() -> None:
    x, _, targets = _clusters(0.2)
    out = rec.propagate(x, targets, rec.Geometry(neighbours=0))
    assert np.array_equal(out, targets)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_propagate_keeps_each_classs_mass(k: int) -> None:
    """Class mass normalisation puts each class's total back to the targets' share; the final
    row renormalisation moves it slightly (measured up to 3.4e-4 here), never more than 1e-3."""
    rng = np.random.default_rng(k)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    targets = rng.dirichlet(np.ones(k), 300).astype(np.float32)
    for geometry in (rec.Geometry(neighbours=10), rec.Geometry(neighbours=5, weight=0.9, steps=20)):
        out = rec.propagate(x, targets, geometry)
        assert out.shape == targets.shape and np.allclose(out.sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(out.mean(0), targets.mean(0), atol=1e-3)


def test_propagate_fixes_most_noisy_labels_on_separated_clusters() -> None:
    x, y, targets = _clusters(0.2)
    noisy = targets.argmax(1) != y
    assert 0.1 < noisy.mean() < 0.3
    out = rec.propagate(x, targets, rec.Geometry(neighbours=10, weight=0.9, steps=10))
    fixed = out.argmax(1) == y
    assert fixed[noisy].mean() > 0.9, fixed[noisy].mean()
    assert fixed[~noisy].mean() > 0.95  # and keeps the clean ones


# ------------------------------------------------------------- validation and diffs


@pytest.mark.parametrize(
    "raw",
    [
        {"labels": {"temperature": 0.01}},
        {"labels": {"smoothing": 0.95}},
        {"labels": {"kind": "argmax"}},
        {"geometry": {"neighbours": 101}},
        {"geometry": {"weight": 1.5}},
        {"geometry": {"steps": 0}},
        {"relabel": {"folds": 6}},
        {"selection": {"keep_fraction": 0.0}},
        {"selection": {"weighting": "entropy"}},
        {"loss": {"aux_coef": -0.1}},
        {"training": {"patience": 0}},
        {"training": {"bootstrap_stages": 5}},
        {"training": {"self_training_rounds": 4}},
        {"ensemble": {"members": 0}},
        {"ensemble": {"members": 9}},
        {"control": {"random_flip": 4.5}},
        {"labels": {"kind": "hard", "colour": "red"}},
        {"optimizer": {"lr": 0.1}},
    ],
)
def test_out_of_range_and_unknown_fields_are_refused(raw: dict) -> None:
    with pytest.raises(ValidationError) as exc:
        MethodConfig.model_validate(raw)
    assert exc.value.errors()[0]["loc"][0] == next(iter(raw))


def test_a_single_relabel_fold_is_refused() -> None:
    """One fold leaves no other folds to train on: refused when the config is read."""
    with pytest.raises(ValidationError):
        MethodConfig.model_validate({"relabel": {"folds": 1}})


def test_configurations_are_frozen() -> None:
    config = MethodConfig()
    with pytest.raises(ValidationError):
        config.labels.kind = "hard"


def test_changes_and_diff_name_component_fields() -> None:
    assert MethodConfig().changes() == {}
    config = MethodConfig.model_validate(
        {"loss": {"aux_coef": 0.25}, "training": {"early_stopping": True}}
    )
    assert config.changes() == {"loss.aux_coef": 0.25, "training.early_stopping": True}
    assert rec.diff(config, config) == {}
    back = rec.diff(config, MethodConfig())
    assert back == {"loss.aux_coef": 0.0, "training.early_stopping": False}
    more = config.model_copy(update={"ensemble": rec.Ensemble(members=3)})
    assert rec.diff(config, more) == {"ensemble.members": 3}
    for family, cfg in rec.FAMILY_CONFIGS.items():  # every family: its own non-default fields
        assert MethodConfig.model_validate(cfg.model_dump()) == cfg, family
        assert (cfg.changes() == {}) == (family == "naive"), family


# ------------------------------------------------------------- the digest a script pins


def test_the_digest_covers_every_file_of_both_packages(tmp_path: Path) -> None:
    from aar.bench._train import recipes_sha256  # aar's copy, standard library only

    kernel = library_dir().parent
    assert rec.LIBRARY_SHA256 == rec.recipes_sha256() == rec.recipes_sha256(kernel)
    assert recipes_sha256() == rec.LIBRARY_SHA256  # aar computes it without torch
    copy = tmp_path / "kernel"
    shutil.copytree(kernel, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert rec.recipes_sha256(copy) == rec.LIBRARY_SHA256
    files = sorted(copy.glob("aar_methods/*.py")) + sorted(copy.glob("aar_recipes/*.py"))
    assert {p.parent.name for p in files} == {"aar_methods", "aar_recipes"}
    for path in files:
        original = path.read_bytes()
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one byte changed
        assert rec.recipes_sha256(copy) != rec.LIBRARY_SHA256, path
        path.write_bytes(original)
    assert rec.recipes_sha256(copy) == rec.LIBRARY_SHA256
    (copy / "aar_recipes" / "extra.py").write_text("")
    assert rec.recipes_sha256(copy) != rec.LIBRARY_SHA256  # a new file counts too
    rec.require(rec.LIBRARY_SHA256)
    with pytest.raises(rec.LibraryMismatchError, match="refusing to run"):
        rec.require("0" * 64)
