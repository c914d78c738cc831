"""Every student method as a recipe: which fits to run, on which targets and rows.

A recipe takes the public data of some (task, seed) pairs (`SeedData`: what the kernel sees,
never ground truth) and returns each pair's test and holdout probabilities. It asks for
models through `fit`, one `Fit` per pair. `batch=True` stacks the requests of one shape (the
seeds of a task: K models as one) and `batch=False` trains each model alone (K = 1). The two
differ only by float rounding, and each is exactly reproducible: the bench and the kernel
stack the same seeds in the same order (`train_public_seeds`), so their numbers are
identical either way. Methods that need several models (bootstrap's stepping stones,
cotrain's halves) call `fit` again.

`early_stopping=True` (the bench's `<method>+es`) trains a method's final model on transfer
minus its validation part and keeps the epoch that agrees best with the weak labels there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._train import HARDENINGS, Batch, Config, StudentConfig, train_batch

SPLITS = ("test", "holdout")
"""The splits a method's final model predicts (what gets scored)."""


@dataclass
class SeedData:
    """One (task, seed) as the kernel sees it: a pool of inputs and the rows of each split."""

    x: np.ndarray
    """float32 [N, d]: the strong inputs (pairs sharing this object can train batched)."""
    rows: dict[str, np.ndarray]
    """Pool rows of 'transfer', 'test' and 'holdout', in the exported order."""
    weak: np.ndarray
    """float32 [n_transfer, c]: the weak supervisor's soft labels on transfer."""
    is_val: np.ndarray
    """bool [n_transfer]: transfer's validation part (for early stopping)."""
    seed: int
    config: StudentConfig

    @property
    def n_classes(self) -> int:
        return int(self.weak.shape[1])

    @classmethod
    def from_public(cls, files: dict, seed: int) -> SeedData:
        """From `aar_kernel.load_task()`'s arrays (the exported files) and the protocol seed."""
        parts = [files["transfer_inputs"], *(files[f"{s}_inputs"] for s in SPLITS)]
        bounds = np.cumsum([0, *(len(p) for p in parts)])
        names = ("transfer", *SPLITS)
        return cls(
            x=np.concatenate(parts).astype(np.float32, copy=False),
            rows={n: np.arange(bounds[i], bounds[i + 1]) for i, n in enumerate(names)},
            weak=np.asarray(files["transfer_weak_labels"], dtype=np.float32),
            is_val=np.asarray(files["transfer_is_val"], dtype=bool),
            seed=int(seed),
            config=Config.from_manifest(files["manifest"]["student"]),
        )


@dataclass
class Fit:
    """One model to train for one pair: targets on some transfer rows, what it predicts."""

    targets: np.ndarray
    """float32 [len(train), c] (all of transfer when `train` is None)."""
    seed: int
    train: np.ndarray | None = None
    """Positions within transfer (None: all of it)."""
    hidden: tuple[int, ...] | None = None
    """Hidden layer widths (None: the task's student)."""
    aux_coef: float = 0.0
    """logconf's auxiliary weight (0: plain cross-entropy)."""
    val: np.ndarray | None = None
    """Positions within transfer for early stopping against the weak labels (None: none)."""
    patience: int | None = None
    predict: tuple[str, ...] = SPLITS
    """Splits ('transfer', 'test', 'holdout') to return probabilities for."""
    hardening: str = "argmax"
    """logconf's multiclass hardening of the student's own predictions ('argmax', 'balanced')."""


@dataclass
class Outcome:
    """A method's result for one pair: test and holdout probabilities, and a progress note."""

    probs: dict[str, np.ndarray]
    note: str = ""


@dataclass
class Fitted:
    """One `Fit`'s result: probabilities per requested split, early stopping's choice."""

    probs: dict[str, np.ndarray]
    best_epoch: int | None = None
    best_acc: float | None = None


FitFn = Callable[[list[Fit]], list[Fitted]]
Recipe = Callable[[list[SeedData], dict, FitFn, bool], list[Outcome]]


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for one model of a method (a stage, a half), fixed by the protocol seed."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[labels]


def fitter(data: Sequence[SeedData], device: str = "cpu", *, batch: bool = False) -> FitFn:
    """`fit` for `data`: the i-th `Fit` trains on `data[i]`, alone; with `batch`, requests of
    one shape (same pool, rows, widths, loss and stopping) train as one stacked model."""

    def fit(fits: list[Fit]) -> list[Fitted]:
        if len(fits) != len(data):
            raise ValueError(f"{len(fits)} fits for {len(data)} (task, seed) pairs")
        groups: dict[tuple, list[int]] = {}
        for i, (d, f) in enumerate(zip(data, fits, strict=True)):
            groups.setdefault(_shape(d, f) if batch else (i,), []).append(i)
        out: dict[int, Fitted] = {}
        for members in groups.values():
            out.update(zip(members, _fit_group(data, fits, members, device), strict=True))
        return [out[i] for i in range(len(fits))]

    return fit


def _shape(d: SeedData, f: Fit) -> tuple:
    n = len(d.rows["transfer"]) if f.train is None else len(f.train)
    c = d.config
    student = (tuple(c.hidden), c.epochs, c.lr, c.batch_size, c.weight_decay)
    val = None if f.val is None else len(f.val)
    sizes = tuple(len(d.rows[s]) for s in f.predict)
    loss = (f.aux_coef > 0, f.hardening)
    return (id(d.x), n, f.hidden, loss, val, f.patience, f.predict, sizes, student)


def _fit_group(
    data: Sequence[SeedData], fits: list[Fit], members: list[int], device: str
) -> list[Fitted]:
    ds, fs = [data[i] for i in members], [fits[i] for i in members]

    def pool_rows(d: SeedData, positions: np.ndarray | None) -> np.ndarray:
        transfer = d.rows["transfer"]
        return transfer if positions is None else transfer[positions]

    es = fs[0].val is not None
    batch = Batch(
        x=ds[0].x,
        train_rows=np.stack([pool_rows(d, f.train) for d, f in zip(ds, fs, strict=True)]),
        targets=np.stack([np.asarray(f.targets, dtype=np.float32) for f in fs]),
        seeds=[f.seed for f in fs],
        aux_coef=np.asarray([f.aux_coef for f in fs]) if fs[0].aux_coef > 0 else None,
        val_rows=np.stack([pool_rows(d, f.val) for d, f in zip(ds, fs, strict=True)])
        if es
        else None,
        val_targets=np.stack([d.weak[f.val] for d, f in zip(ds, fs, strict=True)]) if es else None,
        patience=fs[0].patience,
        hardening=fs[0].hardening,
    )
    eval_rows = {s: np.stack([d.rows[s] for d in ds]) for s in fs[0].predict}
    trained = train_batch(batch, eval_rows, ds[0].config, hidden=fs[0].hidden, device=device)
    return [
        Fitted(
            probs={s: p[j] for s, p in trained.probs.items()},
            best_epoch=None if trained.best_epoch is None else int(trained.best_epoch[j]),
            best_acc=None if trained.best_acc is None else float(trained.best_acc[j]),
        )
        for j in range(len(members))
    ]


def final_fit(
    d: SeedData,
    targets: np.ndarray,
    seed: int,
    early_stopping: bool,
    *,
    keep: np.ndarray | None = None,
    patience: int | None = None,
    aux_coef: float = 0.0,
    hardening: str = "argmax",
) -> Fit:
    """A method's final model: `targets` (on all of transfer) on the rows `keep` (bool, None:
    all), minus the validation part when early stopping."""
    mask = np.ones(len(d.weak), dtype=bool) if keep is None else keep
    if early_stopping:
        mask = mask & ~d.is_val
    train = None if mask.all() else np.flatnonzero(mask)
    return Fit(
        targets=targets if train is None else targets[train],
        seed=seed,
        train=train,
        aux_coef=aux_coef,
        val=np.flatnonzero(d.is_val) if early_stopping else None,
        patience=patience,
        hardening=hardening,
    )


def _outcomes(fitted: list[Fitted], notes: Sequence[str] | None = None) -> list[Outcome]:
    notes = notes or [""] * len(fitted)
    out = []
    for f, note in zip(fitted, notes, strict=True):
        if f.best_epoch is not None:
            kept = f"kept epoch {f.best_epoch + 1} (validation agreement {f.best_acc:.3f})"
            note = f"{note}, {kept}" if note else kept
        out.append(Outcome({s: f.probs[s] for s in SPLITS}, note))
    return out


# ---------------------------------------------------------------- the methods


def naive(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Cross-entropy on the weak soft labels of all of transfer."""
    return _outcomes(fit([final_fit(d, d.weak, d.seed, es) for d in data]))


def logconf(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Target (1 - c) * weak + c * the student's own hardened predictions (openai/weak-to-
    strong): c ramps up over the first 10 % of steps to `aux_coef`; binary hardening at the
    batch share matching the weak positive rate; multiclass by `hardening`: 'argmax' (the
    default, what earlier scripts ran) or 'balanced' (the weak labels' class shares)."""
    coef = float(params["aux_coef"])
    hardening = str(params.get("hardening", "argmax"))
    if hardening not in HARDENINGS:
        raise ValueError(f"unknown hardening {hardening!r}; known: {', '.join(HARDENINGS)}")
    fits = [final_fit(d, d.weak, d.seed, es, aux_coef=coef, hardening=hardening) for d in data]
    return _outcomes(fit(fits))


def stepping_stones(stages: int) -> list[tuple[int, ...]]:
    """A linear model, then one-hidden-layer MLPs of width 16, 32, ...: `stages` in all."""
    return [()] + [(16 * 2**i,) for i in range(stages - 1)]


def bootstrap(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Stepping stones, each trained on the previous one's soft labels on transfer (the first
    on the weak labels); the full student learns from the last."""
    stones = stepping_stones(int(params["stages"]))
    labels = [d.weak for d in data]
    for i, hidden in enumerate(stones):
        stage = [
            Fit(y, derived_seed(d.seed, 1, i), hidden=hidden, predict=("transfer",))
            for d, y in zip(data, labels, strict=True)
        ]
        fitted = fit(stage)
        labels = [f.probs["transfer"].astype(np.float32) for f in fitted]
    final = [final_fit(d, y, d.seed, es) for d, y in zip(data, labels, strict=True)]
    note = f"{len(stones)} stepping stone(s) {stones}"
    return _outcomes(fit(final), [note] * len(data))


def early_stopping(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Train on transfer minus validation; keep the epoch that agrees best with the weak labels
    on validation; stop after `patience` epochs without improvement."""
    patience = int(params["patience"])
    return _outcomes(fit([final_fit(d, d.weak, d.seed, True, patience=patience) for d in data]))


def confident_rows(weak: np.ndarray, keep_fraction: float) -> np.ndarray:
    """The `keep_fraction` most confident rows of each weak class (keeps the class balance)."""
    conf, cls = weak.max(1), weak.argmax(1)
    keep = np.zeros(len(weak), dtype=bool)
    for c in np.unique(cls):
        rows = np.flatnonzero(cls == c)
        ranked = rows[np.argsort(-conf[rows], kind="stable")]
        keep[ranked[: max(1, int(np.ceil(keep_fraction * len(rows))))]] = True
    return keep


def confidence_filter(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Train only on the most confident weak labels, per weak class, soft labels kept."""
    keeps = [confident_rows(d.weak, float(params["keep_fraction"])) for d in data]
    fits = [final_fit(d, d.weak, d.seed, es, keep=k) for d, k in zip(data, keeps, strict=True)]
    notes = [f"trained on {int(k.sum())} of {len(k)} rows" for k in keeps]
    return _outcomes(fit(fits), notes)


def cotrain(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Two students on disjoint halves label each other's half; the final student learns
    (1 - w) * weak + w * the other half's student on all of transfer."""
    w = float(params["agreement_weight"])
    halves = []
    for d in data:
        rows = np.random.default_rng(derived_seed(d.seed, 2)).permutation(len(d.weak))
        halves.append((rows[: len(rows) // 2], rows[len(rows) // 2 :]))
    targets = [d.weak.copy() for d in data]
    agree: list[list[float]] = [[] for _ in data]
    for i in (0, 1):
        fits = [
            Fit(
                targets=d.weak[h[i]],
                seed=derived_seed(d.seed, 2, i),
                train=h[i],
                predict=("transfer",),
            )
            for d, h in zip(data, halves, strict=True)
        ]
        for j, (d, h, f) in enumerate(zip(data, halves, fit(fits), strict=True)):
            other = h[1 - i]
            cross = f.probs["transfer"][other]
            agree[j].append(float(np.mean(cross.argmax(1) == d.weak[other].argmax(1))))
            targets[j][other] = (1 - w) * d.weak[other] + w * cross
    final = [
        final_fit(d, t.astype(np.float32), d.seed, es) for d, t in zip(data, targets, strict=True)
    ]
    notes = [f"cross-labels agree with weak labels on {np.mean(a):.3f} of rows" for a in agree]
    return _outcomes(fit(final), notes)


def label_smoothing(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Targets (1 - epsilon) * weak soft labels + epsilon / n_classes."""
    eps = float(params["epsilon"])
    targets = [((1 - eps) * d.weak + eps / d.n_classes).astype(np.float32) for d in data]
    return _outcomes(fit([final_fit(d, t, d.seed, es) for d, t in zip(data, targets, strict=True)]))


def temperature(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Weak soft labels raised to 1/T and renormalised: T < 1 sharpens, T > 1 softens."""
    temp = float(params["temperature"])
    targets = []
    for d in data:
        logits = np.log(np.clip(d.weak.astype(np.float64), 1e-12, 1.0))
        scaled = np.exp((logits - logits.max(1, keepdims=True)) / temp)
        targets.append((scaled / scaled.sum(1, keepdims=True)).astype(np.float32))
    return _outcomes(fit([final_fit(d, t, d.seed, es) for d, t in zip(data, targets, strict=True)]))


def control_random_flip(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Hardened weak labels, each flipped to another class at random with probability
    `flip_scale` * the weak labels' estimated error rate, mean(1 - max prob)."""
    scale = float(params["flip_scale"])
    targets, notes = [], []
    for d in data:
        n, k = d.weak.shape
        rate = min(1.0, scale * float(np.mean(1 - d.weak.max(1))))
        rng = np.random.default_rng(derived_seed(d.seed, 3))
        flip = rng.random(n) < rate
        hard = d.weak.argmax(1)
        labels = np.where(flip, (hard + rng.integers(1, k, n)) % k, hard)
        targets.append(one_hot(labels, k))
        notes.append(f"flip rate {rate:.3f} ({int(flip.sum())} of {n} labels flipped)")
    fits = [final_fit(d, t, d.seed, es) for d, t in zip(data, targets, strict=True)]
    return _outcomes(fit(fits), notes)


def control_hard_labels(data: list[SeedData], params: dict, fit: FitFn, es: bool) -> list[Outcome]:
    """Cross-entropy on the weak labels hardened to their most probable class."""
    fits = [final_fit(d, one_hot(d.weak.argmax(1), d.n_classes), d.seed, es) for d in data]
    return _outcomes(fit(fits))


METHODS: dict[str, Recipe] = {
    f.__name__: f
    for f in (
        naive,
        logconf,
        bootstrap,
        early_stopping,
        confidence_filter,
        cotrain,
        label_smoothing,
        temperature,
        control_random_flip,
        control_hard_labels,
    )
}
"""Every method by family name (aar's `FAMILIES` describes them; the bench runs some)."""


def train(
    method: str,
    data: list[SeedData],
    params: dict | None = None,
    *,
    early_stopping: bool = False,
    device: str = "cpu",
    batch: bool = False,
) -> list[Outcome]:
    """Train `method` at `params` on every pair of `data`; test and holdout probabilities.

    Each model trains alone unless `batch` (see `fitter`)."""
    recipe = METHODS.get(method)
    if recipe is None:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    fit = fitter(data, device, batch=batch)
    return recipe(list(data), dict(params or {}), fit, early_stopping)


def train_public(method: str, files: dict, seed: int, params: dict | None = None) -> Outcome:
    """The kernel's entry point: `method` on one (task, seed) from its exported files."""
    return train(method, [SeedData.from_public(files, seed)], params)[0]


def public_seeds(files: Mapping[int, dict], seeds: Sequence[int]) -> list[SeedData]:
    """One `SeedData` per seed, in the order given, from each seed's exported files
    (`files[seed]`, what `aar_kernel.load_task(task, seed)` returns), all on ONE pool object.

    `fitter` stacks only pairs with the same pool (`id(d.x)`). Each seed's export has its own
    splits and row order, so the pool is their inputs one after another and each seed's rows
    point into its own part: every model gathers exactly the inputs, in exactly the order,
    that the bench's stacked training gives it (the bench shares the task's whole pool)."""
    by_seed = files
    if "manifest" in files:  # one seed's export, passed directly
        if len(seeds) != 1:
            raise ValueError("files is one seed's export: pass {seed: load_task(task, seed)}")
        by_seed = {int(seeds[0]): dict(files)}
    data = [SeedData.from_public(by_seed[s], s) for s in seeds]
    if len(data) > 1:
        pool = np.concatenate([d.x for d in data])
        offset = 0
        for d in data:
            d.rows, offset = {n: r + offset for n, r in d.rows.items()}, offset + len(d.x)
            d.x = pool
    return data


def train_public_seeds(
    method: str,
    files: Mapping[int, dict],
    seeds: Sequence[int],
    params: dict | None = None,
    *,
    batch: bool = True,
) -> list[Outcome]:
    """The kernel's stacked entry point: `method` on every seed of a task at once, from
    `files[seed]` (each seed's exported files); one `Outcome` per seed, in order. With `batch`
    the seeds train as one stacked model, exactly what the bench trains for the same seeds in
    the same order."""
    return train(method, public_seeds(files, seeds), params, batch=batch)


__all__ = [
    "METHODS",
    "SPLITS",
    "Fit",
    "Fitted",
    "Outcome",
    "SeedData",
    "derived_seed",
    "public_seeds",
    "train",
    "train_public",
    "train_public_seeds",
]
