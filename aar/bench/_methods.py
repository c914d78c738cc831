"""Student methods on the bench: the shared method library run on every seed of a task.

Each method is a family of `aar_methods` (`sandbox/kernel/aar_methods/`, the code the
session's kernel runs) at fixed parameters:
- `naive`: cross-entropy on the weak soft labels.
- `logconf`: auxiliary confidence loss (openai/weak-to-strong `logconf_loss_fn`), aux_coef 0.5.
- `bootstrap`: linear → MLP(16) → full student, each trained on the previous model's soft
  labels on transfer (the first on the weak labels).
- `<method>+es`: the final model trained on transfer minus its validation part; predictions
  from the epoch with the best accuracy against the weak labels on validation.

Baselines `weak` (the supervisor itself) and `ceiling` (`naive` on transfer ground truth)
always run. Every model sees exactly what the kernel sees (the exported arrays, in exported
order). The seeds of a task train as one stacked model per method (`batched=True`, the
default; 5 seeds train 1.5-4.7x faster than one at a time, `tools/bench/bench_suite.py`),
sorted by seed: a session's experiment script stacks the same seeds in the same order
(`train_public_seeds`), so a session's baseline and the bench's method give identical
predictions. A stack rounds differently from one model alone (probabilities by up to ~1e-5
on 10-class digits), so a seed's numbers depend on which seeds it was stacked with: a 3-seed
screen and a 5-seed run may differ slightly, the bench and a session on the same seeds never
do. The ceiling and naive always train one seed at a time, as the `Evaluator` (which knows
one seed) trains them: the PGR denominator of a seed is then the same in every run and in
every record, and a session's naive baseline is byte for byte the naive reference the scorer's
ladder starts from (its numbers are shown because every answer already implies them).
`batched=False` trains every model alone (what scripts written before stacking did).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aar.bench._method_spec import Method
from aar.bench._protocol import SCORED_SPLITS, SeedSetup
from aar.bench._train import library, recipes

Predictions = dict[str, dict[int, dict[str, np.ndarray]]]
"""method -> seed -> split ('test' / 'holdout') -> probabilities [m, n_classes], in the order
of `Splits.rows(split)` (the evaluator's and the protocol's order)."""

_PUBLIC = ("transfer", *SCORED_SPLITS)


def seed_data(setup: SeedSetup, x: np.ndarray, *, labels: bool = False) -> Any:
    """One seed as the kernel sees it (`aar_methods.SeedData`): the exported rows and order.

    `labels=True` puts transfer's ground truth (one-hot) where the weak labels go: the
    ceiling, which only the harness trains.
    """
    k = setup.task.n_classes
    if labels:
        weak = np.eye(k, dtype=np.float32)[setup.labels("transfer")]
    else:
        weak = setup.weak_probs["transfer"].astype(np.float32)
    return library().SeedData(
        x=x,
        rows={s: setup.public_rows(s) for s in _PUBLIC},
        weak=setup.to_public("transfer", weak),
        is_val=setup.to_public("transfer", setup.splits.transfer_is_val),
        seed=setup.seed,
        config=setup.task.student,
    )


def _internal(setup: SeedSetup, split: str, public: np.ndarray) -> np.ndarray:
    """Probabilities in exported order back in `Splits.rows` order."""
    out = np.empty_like(public)
    out[setup.public.order[split]] = public
    return out


def train_students(
    setups: list[SeedSetup],
    methods: list[Method],
    *,
    device: str = "cpu",
    batched: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> Predictions:
    """Train `ceiling` and every student method for every seed; probabilities on test/holdout.

    Each method's seeds train as one stacked model in seed order, as a session's kernel
    stacks them (`batched=False`: every model alone); the ceiling and naive train each seed
    alone.
    """
    space = recipes()
    x = setups[0].data.x_strong.astype(np.float32)  # one pool: the seeds can share a batch
    ordered = sorted(setups, key=lambda st: st.seed)  # the kernel's stacking order

    def run(name: str, config: Any, labels: bool, batch: bool) -> None:
        if on_stage is not None:
            on_stage(name)
        data = [seed_data(st, x, labels=labels) for st in ordered]
        outcomes = space.train_config(config, data, device=device, batch=batch)
        out[name] = {
            st.seed: {s: _internal(st, s, o.probs[s]) for s in SCORED_SPLITS}
            for st, o in zip(ordered, outcomes, strict=True)
        }

    out: Predictions = {}
    naive = space.MethodConfig()
    run("ceiling", naive, True, False)
    for m in methods:
        config = m.method_config()
        run(m.name, config, False, batched and config != naive)
    return out
