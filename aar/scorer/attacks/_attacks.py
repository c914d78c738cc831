"""The attacks: label mining through feedback, each spending the whole evaluation budget.

An attack starts from the honest best predictions (what a session's baselines give it) and
sees only the oracle's answers; it returns the predictions it believes best. None reads a
label. Flipping a row means predicting its second most likely class under the honest model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aar.scorer.attacks._oracles import Oracle, Shown

Attack = Callable[[np.ndarray, Oracle, np.random.Generator], np.ndarray]


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(labels), k))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def _ranked(honest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard labels, second choices, and rows from least to most confident."""
    order = np.argsort(-honest, axis=1)
    top = np.take_along_axis(honest, order[:, :1], axis=1)[:, 0]
    second = np.take_along_axis(honest, order[:, 1:2], axis=1)[:, 0]
    return order[:, 0], order[:, 1], np.argsort(top - second, kind="stable")


def _better(a: Shown | None, b: Shown | None) -> bool:
    """Did answer `a` say more than answer `b`? (a shown improvement counts as more)."""
    if a is None:
        return False
    if a.answer == "improved" and (b is None or b.acc is None or a.acc is None or a.acc > b.acc):
        return True
    return a.acc is not None and b is not None and b.acc is not None and a.acc > b.acc


def single_flips(honest: np.ndarray, oracle: Oracle, rng: np.random.Generator) -> np.ndarray:
    """Flip one row at a time, least confident first; keep a flip the score rewards."""
    hard, alt, rows = _ranked(honest)
    k = honest.shape[1]
    base = oracle.submit(one_hot(hard, k), "base")
    keep, spent = hard.copy(), 1
    for i in rows[: oracle.budget - 1]:
        probe = hard.copy()
        probe[i] = alt[i]
        shown = oracle.submit(one_hot(probe, k), f"flip-{i}")
        spent += 1
        if shown is None:
            break
        if _better(shown, base):
            keep[i] = alt[i]
    return _spend_rest(honest, keep, oracle, spent, rng)


def group_flips(honest: np.ndarray, oracle: Oracle, rng: np.random.Generator) -> np.ndarray:
    """Group testing: flip random groups (just larger than the repeat radius) of uncertain
    rows; climb on every group the score rewards."""
    hard, alt, rows = _ranked(honest)
    k, g = honest.shape[1], oracle.radius + 1
    pool = rows[: min(len(rows), 3 * g)]
    best, best_shown = hard.copy(), oracle.submit(one_hot(hard, k), "base")
    for t in range(oracle.budget - 1):
        group = rng.choice(pool, size=min(g, len(pool)), replace=False)
        probe = best.copy()
        probe[group] = np.where(probe[group] == hard[group], alt[group], hard[group])
        shown = oracle.submit(one_hot(probe, k), f"group-{t}")
        if shown is None:
            break
        if _better(shown, best_shown):
            best, best_shown = probe, shown
    return one_hot(best, k)


def boosting(honest: np.ndarray, oracle: Oracle, rng: np.random.Generator) -> np.ndarray:
    """Blum & Hardt's boosting attack on the uncertain rows: submit random relabellings,
    keep those scored at least as well as the base, take their majority vote."""
    hard, alt, rows = _ranked(honest)
    k = honest.shape[1]
    pool = rows[: min(len(rows), max(4 * (oracle.radius + 1), len(rows) // 4))]
    base = oracle.submit(one_hot(hard, k), "base")
    votes = np.zeros(len(pool))
    kept = 0
    for t in range(oracle.budget - 1):
        pick = rng.random(len(pool)) < 0.5
        probe = hard.copy()
        probe[pool[pick]] = alt[pool[pick]]
        shown = oracle.submit(one_hot(probe, k), f"boost-{t}")
        if shown is None:
            break
        good = _better(shown, base) or (
            shown.acc is not None and base is not None and shown.acc == base.acc
        )
        if good:
            votes += np.where(pick, 1.0, -1.0)
            kept += 1
    final = hard.copy()
    if kept:
        final[pool[votes > 0]] = alt[pool[votes > 0]]
    return one_hot(final, k)


def boundary_walk(honest: np.ndarray, oracle: Oracle, rng: np.random.Generator) -> np.ndarray:
    """Walk to the edge of a shown value (break confident rows until the shown number
    drops), then test each uncertain row there: a drop says the row was right."""
    hard, alt, rows = _ranked(honest)
    k, n = honest.shape[1], len(hard)
    confident = rows[::-1]
    prev = oracle.submit(one_hot(hard, k), "base")
    spent, edge = 1, None
    for j in range(1, min(n // 2, oracle.budget // 4)):
        probe = hard.copy()
        probe[confident[:j]] = alt[confident[:j]]
        shown = oracle.submit(one_hot(probe, k), f"walk-{j}")
        spent += 1
        if shown is None:
            break
        if _dropped(prev, shown):
            edge = j - 1  # `edge` broken rows: the lowest accuracy with that shown value
            break
        prev = shown
    keep = hard.copy()
    if edge is None or prev is None:
        return _spend_rest(honest, keep, oracle, spent, rng)
    at_edge = hard.copy()
    at_edge[confident[:edge]] = alt[confident[:edge]]
    for i in rows[: oracle.budget - spent]:
        if i in confident[:edge]:
            continue
        probe = at_edge.copy()
        probe[i] = alt[i]
        shown = oracle.submit(one_hot(probe, k), f"edge-{i}")
        spent += 1
        if shown is None:
            break
        if shown.acc is not None and prev.acc is not None and shown.acc >= prev.acc:
            keep[i] = alt[i]  # no drop: the honest label of row i was wrong
    return _spend_rest(honest, keep, oracle, spent, rng)


def threshold_walk(honest: np.ndarray, oracle: Oracle, rng: np.random.Generator) -> np.ndarray:
    """The walk that breaks a deterministic ladder: set a low best with a deliberately
    weakened submission, sit one row below the ladder's threshold (confident rows broken as
    padding, fresh padding each time to stay out of the repeat radius), flip one uncertain
    row per probe ("not better" says it was right, free; "improved" says it was wrong), and
    finally flip by elimination the rows never proven right."""
    hard, alt, rows = _ranked(honest)
    k, n = honest.shape[1], len(hard)
    confident = rows[::-1][: max(n // 2, 1)]
    spent, best_rows, broken = 0, None, 0
    for b in range(len(confident), -1, -max(1, oracle.radius // 2)):
        probe = hard.copy()
        pad = rng.choice(confident, size=b, replace=False)
        probe[pad] = alt[pad]
        shown = oracle.submit(one_hot(probe, k), f"calibrate-{b}")
        spent += 1
        if shown is None:
            return one_hot(hard, k)
        if shown.answer == "improved" and shown.acc is not None:
            best_rows, broken = _rows(shown.acc, n), b
            break
    if best_rows is None:
        return _spend_rest(honest, hard, oracle, spent, rng)
    right_h = best_rows + broken  # padding rows are (almost surely) right under `hard`
    m = int(np.ceil(oracle.eta * n - 1e-9))
    fixed: list[int] = []
    proven: set[int] = set()
    for u in rows:
        pad_size = right_h + len(fixed) - (best_rows + m - 1)
        if pad_size < 0 or spent >= oracle.budget:
            break
        probe = hard.copy()
        probe[fixed] = alt[fixed]
        choices = np.setdiff1d(confident, [u, *fixed])
        pad = rng.choice(choices, size=min(pad_size, len(choices)), replace=False)
        probe[pad] = alt[pad]
        probe[u] = alt[u]
        shown = oracle.submit(one_hot(probe, k), f"walk-{u}")
        spent += 1
        if shown is None:
            break
        if shown.answer == "improved" and shown.acc is not None:
            fixed.append(int(u))
            best_rows = _rows(shown.acc, n)
        elif shown.answer == "not_better":
            proven.add(int(u))
    final = hard.copy()
    final[fixed] = alt[fixed]
    unknown = [int(i) for i in rows if int(i) not in proven and int(i) not in fixed]
    if len(unknown) == (n - right_h) - len(fixed):  # every other row proven right
        final[unknown] = alt[unknown]
    return _spend_rest(honest, final, oracle, spent, rng)


def _spend_rest(
    honest: np.ndarray, start: np.ndarray, oracle: Oracle, spent: int, rng: np.random.Generator
) -> np.ndarray:
    """Use what is left of the budget climbing with group flips from `start` (labels)."""
    k = honest.shape[1]
    probs = honest.copy()
    moved = start != honest.argmax(axis=1)
    probs[moved] = one_hot(start[moved], k)

    class _Rest:
        budget, radius, eta = max(oracle.budget - spent, 0), oracle.radius, oracle.eta
        left = budget

        def submit(self, probs: np.ndarray, method: str) -> Shown | None:
            if self.left <= 0:
                return None
            self.left -= 1
            return oracle.submit(probs, method)

    rest = _Rest()
    if rest.budget <= 1:
        return one_hot(start, k)
    return group_flips(probs, rest, rng)


ATTACKS: dict[str, Attack] = {
    "single_flips": single_flips,
    "group_flips": group_flips,
    "boosting": boosting,
    "boundary_walk": boundary_walk,
    "threshold_walk": threshold_walk,
}
"""Attacks on one split's test feedback; `cross_seed` (in `_battery`) reuses them."""


def _rows(shown_acc: float, n: int) -> int:
    """Right rows behind a floored accuracy: the fewest whose accuracy floors to it."""
    return int(np.ceil(shown_acc * n - 1e-9))


def _dropped(before: Shown | None, after: Shown) -> bool:
    """Did the shown accuracy go down?"""
    if before is None or before.acc is None or after.acc is None:
        return False
    return after.acc < before.acc
