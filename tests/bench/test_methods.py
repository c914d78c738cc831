"""Each student method trains and predicts; batched training matches one-at-a-time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aar.bench import METHODS, UnknownMethodError, parse_method, run_task, setup_seed
from aar.bench._method_spec import parse_methods
from aar.bench._methods import fit_one_at_a_time, train_students
from aar.bench._runner import load_data
from aar.bench._train import Batch, _logconf_targets, fit_predict, logconf_coef


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


def test_batched_training_matches_one_at_a_time(tiny) -> None:
    setups = [setup_seed(tiny, load_data(tiny), s) for s in (42, 43)]
    methods = parse_methods(["naive", "logconf"])
    batched = train_students(setups, methods, device="cpu")
    single = train_students(setups, methods, device="cpu", fit=fit_one_at_a_time)
    for name in ("ceiling", "naive", "logconf"):
        for seed in (42, 43):
            np.testing.assert_allclose(
                batched[name][seed]["test"], single[name][seed]["test"], atol=2e-3
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
    assert parse_method("logconf+es").early_stopping
    assert parse_method("logconf").aux_coef == 0.5
    assert [m.name for m in parse_methods(["weak", "naive", "naive", "ceiling"])] == ["naive"]
    with pytest.raises(UnknownMethodError, match="valid methods: naive"):
        parse_method("magic")


def test_small_gap_is_flagged(tiny) -> None:
    result = run_task(tiny, [], seeds=[42], device="cpu", min_gap=0.99)
    assert any(f.startswith("small_gap") for f in result.flags)


@pytest.mark.slow  # torch.optim's first step imports torch._dynamo (several seconds)
def test_own_adamw_matches_torch_adamw() -> None:
    """The trainer's AdamW avoids torch.optim's slow first step; the updates must be equal."""
    from aar.bench._train import _AdamW

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
