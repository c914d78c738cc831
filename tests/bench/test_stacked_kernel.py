"""The kernel's stacked entry points train exactly what the bench's stacked training trains.

`aar_methods.train_public_seeds` and `aar_recipes.train_public_seeds` build the seeds of a task
from its exported files with one shared pool, so `fitter` stacks them as the bench does; the
predictions must be bit for bit those of `train_students(..., batched=True)`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aar.bench import export_public, setup_seed
from aar.bench._method_spec import parse_methods
from aar.bench._methods import train_students
from aar.bench._runner import load_data
from aar.bench._train import library, recipes

lib, rec = library(), recipes()
SEEDS = (43, 42)  # not sorted: the order given is the stacking order


def exported_files(task, seed: int, root) -> dict:
    """The arrays and manifest `aar_kernel.load_task` gives for this (task, seed)."""
    out = export_public(task, seed, root)
    files: dict = {p.stem: np.load(p, allow_pickle=False) for p in out.glob("*.npy")}
    files["manifest"] = json.loads((out / "manifest.json").read_text())
    return files


@pytest.mark.parametrize("fixture", ["tiny", "tiny3"])
def test_stacked_kernel_seeds_equal_the_benchs_stacked_seeds(
    fixture: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    task = request.getfixturevalue(fixture)
    data = load_data(task)
    setups = [setup_seed(task, data, s) for s in SEEDS]
    methods = parse_methods(["naive", "logconf", "bootstrap+es"])
    bench = train_students(setups, methods, device="cpu", batched=True)
    files = {s: exported_files(task, s, tmp_path / f"seed-{s}") for s in SEEDS}
    legacy = {
        "naive": {},
        "logconf": {"aux_coef": 0.5},
        "bootstrap": {"stages": 2},
    }
    shared = lib.public_seeds(files, SEEDS)
    assert [d.seed for d in shared] == list(SEEDS)
    assert all(d.x is shared[0].x for d in shared)  # one pool: the fitter stacks them
    for d in shared:  # each seed's rows read its own export's inputs
        for split in lib.SPLITS:
            assert np.array_equal(d.x[d.rows[split]], files[d.seed][f"{split}_inputs"])
    for m in methods:
        kernel = rec.train_public_seeds(m.config, files, SEEDS)
        family, _, es = m.name.partition("+")
        frozen = lib.train(family, shared, legacy[family], early_stopping=bool(es), batch=True)
        if not es:
            assert _same(frozen, lib.train_public_seeds(family, files, SEEDS, legacy[family]))
        for setup, k, f in zip(setups, kernel, frozen, strict=True):
            for split in ("test", "holdout"):
                mine = setup.to_public(split, bench[m.name][setup.seed][split])
                assert np.array_equal(mine, k.probs[split]), (m.name, setup.seed, split)
                assert np.array_equal(mine, f.probs[split]), (m.name, setup.seed, split)


def _same(a: list, b: list) -> bool:
    return all(
        np.array_equal(x.probs[s], y.probs[s])
        for x, y in zip(a, b, strict=True)
        for s in lib.SPLITS
    )


def test_unbatched_seeds_equal_one_seed_at_a_time(tiny3, tmp_path) -> None:
    """`batch=False` trains each seed alone: exactly `train_public` per seed."""
    files = {s: exported_files(tiny3, s, tmp_path / f"seed-{s}") for s in SEEDS}
    many = lib.train_public_seeds("logconf", files, SEEDS, {"aux_coef": 0.5}, batch=False)
    one = [lib.train_public("logconf", files[s], s, {"aux_coef": 0.5}) for s in SEEDS]
    assert _same(many, one)
    config = rec.FAMILY_CONFIGS["cotrain"]
    many = rec.train_public_seeds(config, files, SEEDS, batch=False)
    assert _same(many, [rec.train_public(config, files[s], s) for s in SEEDS])
    alone = rec.train_public_seeds(config, files[42], [42])  # one seed's export, directly
    assert _same(alone, [rec.train_public(config, files[42], 42)])
    with pytest.raises(ValueError, match="one seed's export"):
        lib.public_seeds(files[42], SEEDS)
