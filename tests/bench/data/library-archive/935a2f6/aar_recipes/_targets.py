"""Targets from weak labels: the label, geometry, control and selection components.

Pure numpy on one (task, seed) at a time. Float operations follow `aar_methods`' recipes
where a component is one of them, so a family's configuration trains the same model.
"""

from __future__ import annotations

import numpy as np
from aar_methods import derived_seed
from aar_methods._families import confident_rows, one_hot

from ._config import Control, Geometry, Labels, Selection


def label_targets(weak: np.ndarray, labels: Labels) -> np.ndarray:
    """The weak soft labels after temperature, hardening and smoothing (in that order)."""
    targets = weak
    if labels.temperature != 1.0:
        logits = np.log(np.clip(weak.astype(np.float64), 1e-12, 1.0))
        scaled = np.exp((logits - logits.max(1, keepdims=True)) / labels.temperature)
        targets = (scaled / scaled.sum(1, keepdims=True)).astype(np.float32)
    if labels.kind == "hard":
        targets = one_hot(targets.argmax(1), weak.shape[1])
    elif labels.kind == "balanced_hard":
        targets = one_hot(balanced_argmax(targets, weak.mean(0)), weak.shape[1])
    if labels.smoothing:
        eps = labels.smoothing
        targets = ((1 - eps) * targets + eps / weak.shape[1]).astype(np.float32)
    return targets


def balanced_argmax(probs: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Hard labels whose class counts match `shares` (rounded), most probable pairs first.

    Every (row, class) pair is ranked by probability; a row takes the first class it meets
    that still has room. Argmax hardening of a student that favours one class makes that
    class swallow the others (measured: self-training collapsed on 10-class digits); quotas
    from the weak labels' own class shares keep every class alive without ground truth."""
    n, k = probs.shape
    quota = np.floor(shares / shares.sum() * n).astype(int)
    quota[np.argsort(-(shares / shares.sum() * n - quota), kind="stable")[: n - quota.sum()]] += 1
    order = np.argsort(-probs, axis=None, kind="stable")
    rows, classes = np.divmod(order, k)
    out = np.full(n, -1)
    for row, cls in zip(rows, classes, strict=True):
        if out[row] < 0 and quota[cls] > 0:
            out[row] = cls
            quota[cls] -= 1
    return out


def propagate(x: np.ndarray, targets: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Label propagation of `targets` over the kNN graph of `x` (`geometry.metric`)."""
    k = min(geometry.neighbours, len(x) - 1)
    if k < 1:
        return targets
    z = x.astype(np.float64)
    if geometry.metric == "standardised":
        z = (z - z.mean(0)) / np.maximum(z.std(0), 1e-6)
    elif geometry.metric == "cosine":
        z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    sq = (z * z).sum(1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.fill_diagonal(dist, np.inf)
    neighbours = np.argpartition(dist, k - 1, axis=1)[:, :k]
    w = geometry.weight
    f = targets.astype(np.float64)
    for _ in range(geometry.steps):
        f = (1 - w) * targets + w * f[neighbours].mean(1)
    # Class mass normalisation (Zhu, Ghahramani & Lafferty 2003): propagation drifts towards
    # the classes whose rows are densest, so each class's total mass is put back to the
    # targets' own share before the rows are renormalised.
    f *= targets.mean(0) / np.maximum(f.mean(0), 1e-12)
    return (f / f.sum(1, keepdims=True)).astype(np.float32)


def random_flip(weak: np.ndarray, control: Control, seed: int) -> tuple[np.ndarray, str]:
    """Hardened weak labels, each flipped to another class with probability `random_flip` *
    the weak labels' estimated error rate (the control of `aar_methods`, same draws)."""
    n, k = weak.shape
    rate = min(1.0, control.random_flip * float(np.mean(1 - weak.max(1))))
    rng = np.random.default_rng(derived_seed(seed, 3))
    flip = rng.random(n) < rate
    hard = weak.argmax(1)
    labels = np.where(flip, (hard + rng.integers(1, k, n)) % k, hard)
    return one_hot(labels, k), f"flip rate {rate:.3f} ({int(flip.sum())} of {n} labels flipped)"


def selected(targets: np.ndarray, selection: Selection) -> tuple[np.ndarray, np.ndarray | None]:
    """The targets (weighted rows scaled, since the loss is linear in them) and the rows kept
    (None: all)."""
    keep = None
    if selection.keep_fraction < 1.0:
        keep = confident_rows(targets, selection.keep_fraction)
    if selection.weighting == "confidence":
        conf = targets.max(1)
        rows = conf if keep is None else conf[keep]
        targets = (targets * (conf / rows.mean())[:, None]).astype(np.float32)
    return targets, keep
