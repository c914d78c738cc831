"""Training a `MethodConfig`: the components in a fixed order, on every (task, seed) pair.

Targets on transfer: weak labels (or the random-flip control) -> label transforms -> strong-
feature propagation -> cross-fitted relabelling -> stepping stones. Then the final student,
on the selected rows with its loss and stopping rule, self-trained for some rounds, once per
ensemble member; the members' probabilities are averaged.

Every model is asked for through `aar_methods`' `fit`, one `Fit` per pair and stage, so
`batch=True` stacks the pairs of a stage into one model (see `aar_methods.fitter`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from aar_methods import SPLITS, Fit, Fitted, Outcome, SeedData, derived_seed, fitter
from aar_methods._families import FitFn, final_fit, stepping_stones

from ._config import MethodConfig
from ._targets import balanced_argmax, label_targets, one_hot, propagate, random_flip, selected


def train_config(
    config: MethodConfig,
    data: Sequence[SeedData],
    *,
    device: str = "cpu",
    batch: bool = False,
) -> list[Outcome]:
    """`config` trained on every pair of `data`: test and holdout probabilities and a note."""
    data = list(data)
    fit = fitter(data, device, batch=batch)
    notes: list[list[str]] = [[] for _ in data]
    targets = [_first_targets(config, d, note) for d, note in zip(data, notes, strict=True)]
    if config.relabel.folds:
        targets = _crossfit(config, data, targets, fit, notes)
    if config.training.bootstrap_stages:
        targets = _bootstrap(config, data, targets, fit, notes)
    members = [_member(config, data, targets, fit, m) for m in range(config.ensemble.members)]
    outcomes = []
    for i, note in enumerate(notes):
        probs = {s: np.mean([m[i].probs[s] for m in members], axis=0) for s in SPLITS}
        last = members[0][i]
        if last.best_epoch is not None:
            note.append(
                f"kept epoch {last.best_epoch + 1} (validation agreement {last.best_acc:.3f})"
            )
        if config.ensemble.members > 1:
            note.append(f"{config.ensemble.members} members averaged")
        outcomes.append(
            Outcome({s: p.astype(np.float32) for s, p in probs.items()}, ", ".join(note))
        )
    return outcomes


def _first_targets(config: MethodConfig, d: SeedData, note: list[str]) -> np.ndarray:
    """Weak labels (or the control's flipped labels), transformed, propagated."""
    if config.control.random_flip:
        targets, said = random_flip(d.weak, config.control, d.seed)
        note.append(said)
    else:
        targets = label_targets(d.weak, config.labels)
    if config.geometry.neighbours:
        before = targets.argmax(1)
        targets = propagate(d.x[d.rows["transfer"]], targets, config.geometry)
        changed = float(np.mean(targets.argmax(1) != before))
        note.append(f"propagation changed {changed:.3f} of the hard labels")
    return targets


def _crossfit(
    config: MethodConfig,
    data: list[SeedData],
    targets: list[np.ndarray],
    fit: FitFn,
    notes: list[list[str]],
) -> list[np.ndarray]:
    """Each fold labelled by a student trained on the other folds (two folds: cotrain's
    halves and seeds, numbered from the last fold)."""
    folds, w = config.relabel.folds, config.relabel.weight
    parts = []
    for d in data:
        rows = np.random.default_rng(derived_seed(d.seed, 2)).permutation(len(d.weak))
        bounds = [i * len(rows) // folds for i in range(folds + 1)]
        parts.append([rows[bounds[i] : bounds[i + 1]] for i in range(folds)])
    out = [t.copy() for t in targets]
    for j in range(folds):
        fits = []
        for d, t, p in zip(data, targets, parts, strict=True):
            train = np.concatenate([p[i] for i in range(folds) if i != j])
            seed = derived_seed(d.seed, 2, folds - 1 - j)
            fits.append(Fit(targets=t[train], seed=seed, train=train, predict=("transfer",)))
        for i, (t, p, f) in enumerate(zip(targets, parts, fit(fits), strict=True)):
            cross = f.probs["transfer"][p[j]]
            out[i][p[j]] = (1 - w) * t[p[j]] + w * cross
    for note, t, o in zip(notes, targets, out, strict=True):
        note.append(
            f"cross-fitted labels agree with the targets on "
            f"{np.mean(t.argmax(1) == o.argmax(1)):.3f} of rows"
        )
    return [o.astype(np.float32) for o in out]


def _bootstrap(
    config: MethodConfig,
    data: list[SeedData],
    targets: list[np.ndarray],
    fit: FitFn,
    notes: list[list[str]],
) -> list[np.ndarray]:
    """Stepping stones, each trained on the previous one's soft labels on transfer."""
    stones = stepping_stones(config.training.bootstrap_stages)
    labels = list(targets)
    for i, hidden in enumerate(stones):
        stage = [
            Fit(y, derived_seed(d.seed, 1, i), hidden=hidden, predict=("transfer",))
            for d, y in zip(data, labels, strict=True)
        ]
        labels = [f.probs["transfer"].astype(np.float32) for f in fit(stage)]
    for note in notes:
        note.append(f"{len(stones)} stepping stone(s) {stones}")
    return labels


def _member(
    config: MethodConfig,
    data: list[SeedData],
    targets: list[np.ndarray],
    fit: FitFn,
    member: int,
) -> list[Fitted]:
    """One ensemble member's final students (self-trained for the configured rounds)."""
    training = config.training
    rounds = training.self_training_rounds
    current = list(targets)
    for r in range(rounds + 1):
        last = r == rounds
        fits = [
            _final_fit(config, d, t, member, last=last) for d, t in zip(data, current, strict=True)
        ]
        fitted = fit(fits)
        if last:
            return fitted
        w = training.self_training_weight
        current = [
            ((1 - w) * t + w * _own_labels(f, d, training.self_training_labels)).astype(np.float32)
            for d, t, f in zip(data, targets, fitted, strict=True)
        ]
    raise AssertionError("unreachable")


def _own_labels(fitted: Fitted, d: SeedData, kind: str) -> np.ndarray:
    own = fitted.probs["transfer"]
    if kind == "soft":
        return own
    return one_hot(balanced_argmax(own, d.weak.mean(0)), d.n_classes)


def _final_fit(
    config: MethodConfig, d: SeedData, targets: np.ndarray, member: int, last: bool
) -> Fit:
    """The final student's `Fit`: selected rows, its loss and stopping; a bagged resample of
    its rows for members after the first; transfer predictions too when self-training."""
    training = config.training
    seed = d.seed if member == 0 else derived_seed(d.seed, 4, member)
    chosen, keep = selected(targets, config.selection)
    f = final_fit(
        d,
        chosen,
        seed,
        training.early_stopping,
        keep=keep,
        patience=training.patience,
        aux_coef=config.loss.aux_coef,
        hardening=config.loss.hardening,
    )
    if config.ensemble.bagging and member > 0:
        positions = np.arange(len(d.weak)) if f.train is None else f.train
        draw = np.random.default_rng(derived_seed(d.seed, 5, member))
        f.train = np.sort(draw.choice(positions, len(positions), replace=True))
        f.targets = chosen[f.train]
    if not last:
        f.predict = ("transfer", *SPLITS)
    return f
