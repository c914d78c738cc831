"""Each student method trains and predicts; stacked training matches one-at-a-time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aar.bench import (
    METHODS,
    Evaluator,
    UnknownMethodError,
    get_task,
    parse_method,
    run_task,
    setup_seed,
)
from aar.bench._method_spec import parse_methods
from aar.bench._methods import train_students
from aar.bench._runner import load_data
from aar.bench._train import library, recipes

lib = library()
Batch, fit_predict, logconf_coef = lib.Batch, lib.fit_predict, lib.logconf_coef
_logconf_targets = lib.logconf_targets


def test_every_method_trains_and_predicts_binary(tiny) -> None:
    result = run_task(tiny, list(METHODS), seeds=2, device="cpu")
    assert set(result.methods) == set(METHODS)
    assert result.weak.acc.mean < result.ceiling.acc.mean
    for name, mr in result.methods.items():
        assert len(mr.seeds) == 2, name
        assert 0.5 < mr.acc.mean <= 1.0, name  # learned something
        assert np.isfinite(mr.pgr_acc.mean), name
    assert result.methods["naive"].pgr_acc.mean > 0.2  # the student beats its supervisor


def test_multiclass_naive_logconf_bootstrap(tiny3) -> None:
    result = run_task(tiny3, ["naive", "logconf", "bootstrap"], seeds=[42], device="cpu")
    assert result.n_classes == 3
    assert result.ceiling.acc.mean > result.weak.acc.mean
    for mr in result.methods.values():
        assert 1 / 3 < mr.acc.mean < 1.0
        assert np.isfinite(mr.auroc.mean)


def test_stacked_training_matches_one_at_a_time(tiny) -> None:
    """Stacked training (the default) agrees with one model at a time up to float rounding."""
    setups = [setup_seed(tiny, load_data(tiny), s) for s in (42, 43)]
    methods = parse_methods(["naive", "logconf", "bootstrap+es"])
    batched = train_students(setups, methods, device="cpu")
    single = train_students(setups, methods, device="cpu", batched=False)
    for name in ("ceiling", "naive", "logconf", "bootstrap+es"):
        for seed in (42, 43):
            np.testing.assert_allclose(
                batched[name][seed]["test"], single[name][seed]["test"], atol=2e-3
            )


def test_seeds_stack_in_seed_order_and_the_references_train_alone() -> None:
    """A session's script stacks a task's seeds sorted by seed, so the bench stacks them in
    that order whatever order it is given. The ceiling and naive train each seed alone,
    exactly as the `Evaluator` (which knows one seed) trains them for every session record's
    PGR and for the scorer's naive reference. On 10-class digits a stack rounds differently
    from a model alone (~1e-5 here), so the check bites."""
    task = get_task("digits-10")
    data = load_data(task)
    setups = {s: setup_seed(task, data, s) for s in (42, 43)}
    methods = parse_methods(["naive", "logconf"])
    given = train_students([setups[43], setups[42]], methods, device="cpu")
    ordered = train_students([setups[42], setups[43]], methods, device="cpu")
    alone = train_students([setups[43]], methods, device="cpu")
    for name in ("ceiling", "naive", "logconf"):
        for seed in (42, 43):
            for split in ("test", "holdout"):
                assert np.array_equal(given[name][seed][split], ordered[name][seed][split])
    for split in ("test", "holdout"):
        for name in ("ceiling", "naive"):
            assert np.array_equal(alone[name][43][split], ordered[name][43][split]), name
        np.testing.assert_allclose(
            alone["logconf"][43][split], ordered["logconf"][43][split], atol=1e-3
        )
    stacked, single = ordered["logconf"][43]["test"], alone["logconf"][43]["test"]
    assert not np.array_equal(stacked, single)  # logconf really was stacked


def test_the_benchs_naive_is_the_scorers_reference_whatever_it_is_stacked_with() -> None:
    """The scorer's ladder starts from the `Evaluator`'s naive student, which knows one seed;
    a session's naive baseline (and `aar bench run`'s) is shown its numbers only when its
    predictions are byte for byte that reference, so naive never stacks."""
    task = get_task("digits-10")
    data = load_data(task)
    setups = [setup_seed(task, data, s) for s in (42, 43, 44)]
    bench = train_students(setups, parse_methods(["naive"]), device="cpu")
    for setup in setups:
        reference = Evaluator(task, setup.seed).reference_probs("test")
        assert np.array_equal(
            setup.to_public("test", bench["naive"][setup.seed]["test"]), reference
        )


def test_early_stopping_keeps_best_validation_epoch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    tg = np.eye(2, dtype=np.float32)[y]
    batch = Batch(
        x=x,
        train_rows=np.arange(200)[None],
        targets=tg[None, :200],
        seeds=[0],
        val_rows=np.arange(200, 250)[None],
        val_targets=tg[None, 200:250],
    )
    from aar.bench import StudentConfig

    out = fit_predict(
        batch, {"t": np.arange(250, 300)[None]}, StudentConfig(epochs=3), device="cpu"
    )
    assert out["t"].shape == (1, 50, 2)
    assert (out["t"][0].argmax(1) == y[250:]).mean() > 0.8


def test_logconf_targets_binary_quantile_and_warmup() -> None:
    logits = torch.tensor([[[0.0, 3.0], [0.0, 1.0], [0.0, -1.0], [0.0, -3.0]]])
    weak = torch.tensor([[[0.5, 0.5]] * 4])  # positive rate 0.5 -> top 2 hardened to class 1
    tgt = _logconf_targets(logits, weak, torch.tensor([1.0]))
    assert torch.equal(tgt[0, :, 1], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    half = _logconf_targets(logits, weak, torch.tensor([0.5]))
    assert torch.allclose(half[0, :, 1], torch.tensor([0.75, 0.75, 0.25, 0.25]))
    aux = torch.tensor([0.5])
    assert logconf_coef(aux, 0.05).item() == pytest.approx(0.025)  # warm-up: aux * step_frac
    assert logconf_coef(aux, 0.5).item() == pytest.approx(0.5)


def test_logconf_multiclass_hardens_by_argmax() -> None:
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]])
    weak = torch.full((1, 2, 3), 1 / 3)
    tgt = _logconf_targets(logits, weak, torch.tensor([1.0]))
    assert torch.equal(tgt[0], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))


def test_method_names() -> None:
    """A built-in name is its family's configuration; `+es` turns early stopping on."""
    stopped = parse_method("logconf+es").method_config()
    assert stopped.training.early_stopping is True and stopped.loss.aux_coef == 0.5
    assert parse_method("logconf").method_config().loss.aux_coef == 0.5
    assert parse_method("logconf").method_config().training.early_stopping is False
    assert parse_method("bootstrap").method_config().training.bootstrap_stages == 2
    assert parse_method("naive").method_config().changes() == {}
    assert [m.name for m in parse_methods(["weak", "naive", "naive", "ceiling"])] == ["naive"]
    with pytest.raises(UnknownMethodError, match="valid methods: naive"):
        parse_method("magic")


def test_small_gap_is_flagged(tiny) -> None:
    result = run_task(tiny, [], seeds=[42], device="cpu", min_gap=0.99)
    assert any(f.startswith("small_gap") for f in result.flags)


@pytest.mark.slow  # torch.optim's first step imports torch._dynamo (several seconds)
def test_own_adamw_matches_torch_adamw() -> None:
    """The trainer's AdamW avoids torch.optim's slow first step; the updates must be equal."""
    _AdamW = lib.AdamW
    gen = torch.Generator().manual_seed(0)
    x, t = torch.randn(32, 5, generator=gen), torch.randn(32, 3, generator=gen)
    start = torch.randn(5, 3, generator=gen)
    mine, ref = start.clone().requires_grad_(), start.clone().requires_grad_()
    opt_mine = _AdamW([mine], lr=0.01, weight_decay=0.1)
    opt_ref = torch.optim.AdamW([ref], lr=0.01, weight_decay=0.1)
    for _ in range(50):
        for w, opt in ((mine, opt_mine), (ref, opt_ref)):
            opt.zero_grad()
            ((x @ w - t) ** 2).mean().backward()
            opt.step()
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-6)


def test_run_task_is_deterministic(tiny) -> None:
    a = run_task(tiny, ["naive", "logconf"], seeds=[42, 43], device="cpu")
    b = run_task(tiny, ["naive", "logconf"], seeds=[42, 43], device="cpu")
    drop = {"seconds", "timings"}
    assert a.model_dump(exclude=drop) == b.model_dump(exclude=drop)


def _exported(task, seed: int, root) -> dict:
    """The arrays and manifest the kernel's `aar_kernel.load_task` would give for this pair."""
    import json

    from aar.bench import export_public

    out = export_public(task, seed, root)
    files: dict = {p.stem: np.load(p, allow_pickle=False) for p in out.glob("*.npy")}
    files["manifest"] = json.loads((out / "manifest.json").read_text())
    return files


@pytest.mark.parametrize("fixture", ["tiny", "tiny3"])
def test_the_bench_trains_exactly_what_the_kernel_trains_from_the_export(
    fixture: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    """One implementation: the bench's predictions are bit for bit those of the method space
    run on the exported files (`aar_recipes.train_public`, what a session's kernel does) and
    of the frozen `aar_methods` family of the same name, for plain, logconf and early stopped
    multi-stage methods; before, rows, order and initialisation all differed."""
    task = request.getfixturevalue(fixture)
    setup = setup_seed(task, load_data(task), 43)
    methods = parse_methods(["naive", "logconf", "bootstrap+es"])
    bench = train_students([setup], methods, device="cpu")
    files = _exported(task, 43, tmp_path / "public")
    legacy = {
        "naive": {},
        "logconf": {"aux_coef": 0.5},
        "bootstrap": {"stages": 2},
    }
    for m in methods:
        data = [lib.SeedData.from_public(files, 43)]
        kernel = recipes().train_public(m.config, files, 43)
        family, _, es = m.name.partition("+")
        frozen = lib.train(family, data, legacy[family], early_stopping=bool(es))[0]
        for split in ("test", "holdout"):
            mine = setup.to_public(split, bench[m.name][43][split])
            assert np.array_equal(mine, kernel.probs[split]), (m.name, split)
            assert np.array_equal(mine, frozen.probs[split]), (m.name, split)


def test_every_library_method_trains_on_public_files(tiny3, tmp_path) -> None:
    """Every family of the library on the exported files: valid probabilities, and the
    families that change the targets give different predictions from naive."""
    files = _exported(tiny3, 42, tmp_path / "public")
    params = {
        "logconf": {"aux_coef": 0.5},
        "bootstrap": {"stages": 2},
        "early_stopping": {"patience": 1},
        "confidence_filter": {"keep_fraction": 0.5},
        "cotrain": {"agreement_weight": 0.5},
        "label_smoothing": {"epsilon": 0.3},
        "temperature": {"temperature": 0.25},
        "control_random_flip": {"flip_scale": 1.0},
    }
    data = [lib.SeedData.from_public(files, 42)]
    naive = lib.train("naive", data)[0].probs["holdout"]
    for family in lib.METHODS:
        out = lib.train(family, data, params.get(family, {}))[0]
        for split in lib.SPLITS:
            p = out.probs[split]
            assert p.shape == (len(files[f"{split}_inputs"]), 3), family
            assert np.isfinite(p).all() and np.allclose(p.sum(1), 1, atol=1e-5), family
        if family != "naive":
            assert np.abs(out.probs["holdout"] - naive).mean() > 1e-3, family
    stopped = lib.train("early_stopping", data, {"patience": 1})[0]
    assert stopped.note.startswith("kept epoch ")


def test_the_library_digest_covers_every_file_and_a_script_refuses_another(tmp_path) -> None:
    import shutil

    from aar.bench._train import library_dir, library_sha256

    assert library_sha256() == lib.LIBRARY_SHA256 == lib.library_sha256(library_dir())
    copy = tmp_path / "aar_methods"
    shutil.copytree(library_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert lib.library_sha256(copy) == lib.LIBRARY_SHA256
    for path in sorted(copy.glob("*.py")):
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert lib.library_sha256(copy) != lib.LIBRARY_SHA256, path.name
        path.write_bytes(original)
    (copy / "extra.py").write_text("")
    assert lib.library_sha256(copy) != lib.LIBRARY_SHA256  # a new file counts too
    lib.require(lib.LIBRARY_SHA256)
    with pytest.raises(lib.LibraryMismatchError, match="refusing to run"):
        lib.require("0" * 64)
