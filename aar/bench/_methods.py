"""Student methods: how the strong model learns from the weak supervisor's soft labels.

- `naive`: cross-entropy on the weak soft labels.
- `logconf`: auxiliary confidence loss (openai/weak-to-strong `logconf_loss_fn`): target =
  (1 − c)·weak + c·hardened own predictions, c = aux_coef·step_frac for the first 10 % of
  steps, then aux_coef = 0.5. Binary hardening by batch quantile matched to the weak
  positive rate; multiclass hardening by argmax.
- `bootstrap`: linear → MLP(16) → full student, each trained on the previous model's soft
  labels on transfer (the first on the weak labels).
- `<method>+es`: trained on transfer minus its validation part; predictions from the epoch
  with the best accuracy against the weak labels on validation (no ground truth).

Baselines `weak` (the supervisor itself) and `ceiling` (the student trained on transfer
ground truth) always run. All seeds (and methods sharing a shape) train as one batched model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aar.bench._method_spec import Method
from aar.bench._protocol import SCORED_SPLITS, SeedSetup
from aar.bench._task import StudentConfig
from aar.bench._train import Batch, fit_predict

BOOTSTRAP_HIDDEN: tuple[tuple[int, ...], ...] = ((), (16,))
"""Intermediate students before the full one: a linear model, then a one-layer MLP."""


Predictions = dict[str, dict[int, dict[str, np.ndarray]]]
"""method -> seed -> split ('test' / 'holdout') -> probabilities [m, n_classes]."""
FitFn = Callable[..., dict[str, np.ndarray]]


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[y]


def fit_one_at_a_time(
    batch: Batch, eval_rows: dict[str, np.ndarray], config: StudentConfig, **kw: Any
) -> dict[str, np.ndarray]:
    """`fit_predict` model by model (for the batched-vs-sequential benchmark)."""
    parts = []
    for k in range(len(batch.seeds)):
        sub = Batch(
            x=batch.x,
            train_rows=batch.train_rows[k : k + 1],
            targets=batch.targets[k : k + 1],
            seeds=batch.seeds[k : k + 1],
            aux_coef=None if batch.aux_coef is None else batch.aux_coef[k : k + 1],
            val_rows=None if batch.val_rows is None else batch.val_rows[k : k + 1],
            val_targets=None if batch.val_targets is None else batch.val_targets[k : k + 1],
        )
        parts.append(
            fit_predict(sub, {n: r[k : k + 1] for n, r in eval_rows.items()}, config, **kw)
        )
    return {n: np.concatenate([p[n] for p in parts]) for n in eval_rows}


def train_students(
    setups: list[SeedSetup],
    methods: list[Method],
    *,
    device: str = "auto",
    fit: FitFn = fit_predict,
    on_stage: Callable[[str], None] | None = None,
) -> Predictions:
    """Train `ceiling` and every student method for every seed; probabilities on test/holdout.

    Models that share a shape and training rows train together: ceiling + naive + logconf
    (full transfer), the early-stopped variants (transfer minus validation), and each
    bootstrap stage.
    """
    task = setups[0].task
    k = task.n_classes
    x = setups[0].data.x_strong
    config = task.student
    eval_rows = {s: np.stack([st.splits.rows(s) for st in setups]) for s in SCORED_SPLITS}
    seeds = [st.seed for st in setups]
    out: Predictions = {}

    def stage(label: str) -> None:
        if on_stage is not None:
            on_stage(label)

    def run_group(members: list[tuple[str, Method | None]], es: bool) -> None:
        """members: (result name, method or None for ceiling); one batched fit, all seeds."""
        rows, targets, aux, init = [], [], [], []
        val_rows, val_targets = [], []
        for _name, method in members:
            for st in setups:
                keep = ~st.splits.transfer_is_val if es else slice(None)
                tr = st.splits.transfer[keep]
                if method is None:
                    tgt = _one_hot(st.labels("transfer"), k)
                else:
                    tgt = st.weak_probs["transfer"]
                rows.append(tr)
                targets.append(tgt[keep])
                aux.append(0.0 if method is None else method.aux_coef)
                init.append(st.seed)
                if es:
                    val_rows.append(st.splits.transfer[st.splits.transfer_is_val])
                    val_targets.append(st.weak_probs["transfer"][st.splits.transfer_is_val])
        batch = Batch(
            x=x,
            train_rows=np.stack(rows),
            targets=np.stack(targets),
            seeds=init,
            aux_coef=np.asarray(aux) if any(aux) else None,
            val_rows=np.stack(val_rows) if es else None,
            val_targets=np.stack(val_targets) if es else None,
        )
        group_eval = {s: np.concatenate([r] * len(members)) for s, r in eval_rows.items()}
        probs = fit(batch, group_eval, config, device=device)
        for i, (name, _m) in enumerate(members):
            out[name] = {
                seed: {s: probs[s][i * len(setups) + j] for s in SCORED_SPLITS}
                for j, seed in enumerate(seeds)
            }

    full = [(m.name, m) for m in methods if m.base != "bootstrap" and not m.early_stopping]
    stage("ceiling" + "".join(f", {n}" for n, _ in full))
    run_group([("ceiling", None), *full], es=False)
    es_members = [(m.name, m) for m in methods if m.base != "bootstrap" and m.early_stopping]
    if es_members:
        stage(", ".join(n for n, _ in es_members))
        run_group(es_members, es=True)
    for method in (m for m in methods if m.base == "bootstrap"):
        stage(method.name)
        out[method.name] = _bootstrap(setups, method, x, config, eval_rows, device, fit)
    return out


def _bootstrap(
    setups: list[SeedSetup],
    method: Method,
    x: np.ndarray,
    config: StudentConfig,
    eval_rows: dict[str, np.ndarray],
    device: str,
    fit: FitFn,
) -> dict[int, dict[str, np.ndarray]]:
    """Chain linear → MLP(16) → full student; each stage relabels transfer for the next."""
    labels = np.stack([st.weak_probs["transfer"] for st in setups])
    transfer = np.stack([st.splits.transfer for st in setups])
    seeds = [st.seed for st in setups]
    for hidden in BOOTSTRAP_HIDDEN:
        batch = Batch(x=x, train_rows=transfer, targets=labels, seeds=seeds)
        labels = fit(batch, {"transfer": transfer}, config, hidden=hidden, device=device)[
            "transfer"
        ].astype(np.float32)
    if method.early_stopping:
        is_val = np.stack([st.splits.transfer_is_val for st in setups])
        n_train = int((~is_val[0]).sum())
        batch = Batch(
            x=x,
            train_rows=transfer[~is_val].reshape(len(setups), n_train),
            targets=labels[~is_val].reshape(len(setups), n_train, -1),
            seeds=seeds,
            val_rows=transfer[is_val].reshape(len(setups), -1),
            # validation keeps the weak supervisor's labels: they are the only labels it has
            val_targets=np.stack(
                [st.weak_probs["transfer"][st.splits.transfer_is_val] for st in setups]
            ),
        )
    else:
        batch = Batch(x=x, train_rows=transfer, targets=labels, seeds=seeds)
    probs = fit(batch, eval_rows, config, device=device)
    return {seed: {s: probs[s][j] for s in SCORED_SPLITS} for j, seed in enumerate(seeds)}
