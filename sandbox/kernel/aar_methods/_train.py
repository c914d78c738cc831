"""The student trainer: K independent MLPs trained as one stacked model.

Weights are stacked to [K, d_in, d_out] and each layer is one `torch.baddbmm`. Every model
keeps its own initialisation, minibatch order, training rows, loss and early stopping, and
the summed loss gives each model exactly its own gradient (AdamW is element-wise).

K > 1 is faster for many small models, but not bit-identical to K = 1: on CPU, batched matrix
products round differently for some shapes (measured: 10-class outputs with an odd number of
rows, differences of ~1e-7). A stacked run is still exactly reproducible for the same K
models in the same order, so the bench and the session kernel agree bit for bit as long as
both stack the same seeds of a task in the same order (`train_public_seeds` in the kernel,
the bench's batched `train_students`); K = 1 (`fitter(batch=False)`) remains available.

Plain tensors and the AdamW below instead of torch.nn / torch.optim: these students are so
small that framework overhead is most of their cost.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


class StudentConfig(Protocol):
    """The student's training configuration (a task's manifest `student` entry)."""

    hidden: tuple[int, ...]
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float


@dataclass(frozen=True)
class Config:
    """A `StudentConfig` read from a manifest's `student` mapping (the kernel's view)."""

    hidden: tuple[int, ...]
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 0.0

    @classmethod
    def from_manifest(cls, student: dict) -> Config:
        return cls(
            hidden=tuple(int(h) for h in student["hidden"]),
            epochs=int(student["epochs"]),
            lr=float(student["lr"]),
            batch_size=int(student["batch_size"]),
            weight_decay=float(student.get("weight_decay", 0.0)),
        )


def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when available, else CPU; 'cpu' / 'cuda' / 'cuda:N' as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op threads (one thread is faster for tiny MLPs)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class Batch:
    """K training problems over one shared feature pool.

    Row indices let K models read the same pool without copying it K times.
    """

    x: np.ndarray
    """float32 [N, d]: the shared pool of inputs."""
    train_rows: np.ndarray
    """int [K, n]: the training rows of each model (same n for all)."""
    targets: np.ndarray
    """float32 [K, n, c]: soft targets, aligned with `train_rows`."""
    seeds: list[int]
    """Initialisation / minibatch seed of each model."""
    aux_coef: np.ndarray | None = None
    """float [K]: logconf auxiliary weight per model (None: plain cross-entropy)."""
    val_rows: np.ndarray | None = None
    """int [K, v]: rows for early stopping (None: train for all epochs)."""
    val_targets: np.ndarray | None = None
    """float32 [K, v, c]: weak soft labels on `val_rows`."""
    patience: int | None = None
    """Early stopping: a model stops after this many epochs without a better validation
    agreement (None: every epoch is considered)."""
    hardening: str = "argmax"
    """logconf's multiclass hardening: 'argmax' (what earlier scripts ran) or 'balanced'
    (`balanced_hard`); binary tasks use the rank form either way."""


@dataclass
class Trained:
    """What `train_batch` returns: probabilities per eval name, and early stopping's choice."""

    probs: dict[str, np.ndarray]
    """name -> float32 [K, m, c]."""
    best_epoch: np.ndarray | None = None
    """int [K]: the (0-based) epoch kept by early stopping."""
    best_acc: np.ndarray | None = None
    """float [K]: its agreement with the weak labels on validation."""


class _StackedMLP:
    """K MLPs with stacked weights; `forward` maps [K, B, d] to logits [K, B, c]."""

    def __init__(
        self, sizes: list[int], seeds: list[int], device: torch.device, dtype: torch.dtype
    ) -> None:
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for d_in, d_out in itertools.pairwise(sizes):
            bound = 1.0 / np.sqrt(d_in)  # torch.nn.Linear's default initialisation range
            w = np.empty((len(seeds), d_in, d_out), np.float32)
            b = np.empty((len(seeds), d_out), np.float32)
            for k, seed in enumerate(seeds):
                rng = np.random.default_rng([seed, d_in, d_out, len(self.weights)])
                w[k] = rng.uniform(-bound, bound, (d_in, d_out))
                b[k] = rng.uniform(-bound, bound, d_out)
            self.weights.append(torch.tensor(w, device=device, dtype=dtype, requires_grad=True))
            self.biases.append(torch.tensor(b, device=device, dtype=dtype, requires_grad=True))

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b[:, None, :], h, w)
            if i < last:
                h = torch.relu(h)
        return h


class AdamW:
    """AdamW (decoupled weight decay) with torch's defaults, in a few `_foreach` ops.

    Same updates as `torch.optim.AdamW`, but its first `step()` does not import
    torch._dynamo (measured 1.8-2.8 s per process), which would dominate a small run.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = params
        self.lr = lr
        self.weight_decay = weight_decay
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        grads = [p.grad for p in self.params]
        params = self.params
        torch._foreach_lerp_(self.m, grads, 1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, grads, grads, 1 - self.b2)
        if self.weight_decay:
            torch._foreach_mul_(params, 1 - self.lr * self.weight_decay)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, (1 - self.b2**self.t) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, self.m, denom, -self.lr / (1 - self.b1**self.t))


HARDENINGS = ("argmax", "balanced")
"""logconf's multiclass hardenings (binary: always the batch-quantile rank form)."""


def logconf_targets(
    logits: torch.Tensor, weak: torch.Tensor, coef: torch.Tensor, hardening: str = "argmax"
) -> torch.Tensor:
    """(1 - c) · weak + c · hardened own predictions (openai/weak-to-strong `logconf_loss_fn`).

    Binary: the top-q share of the batch by P(class 1) is hardened to 1, where q is the weak
    labels' positive rate in the batch (the rank form of the reference's batch-quantile
    threshold; ties broken by position). Multiclass (our generalisation): argmax one-hot, or
    with `hardening='balanced'` class counts that match the weak labels' shares in the batch
    (`balanced_hard`): argmax let one class swallow the others at aux_coef >= 0.75 on 10-class
    digits, since the student's own labels then outweigh the weak ones.
    """
    if hardening not in HARDENINGS:
        raise ValueError(f"unknown hardening {hardening!r}; known: {', '.join(HARDENINGS)}")
    probs = torch.softmax(logits.detach(), dim=-1)
    _, b, c = probs.shape
    if c == 2:
        n_pos = torch.round(weak[..., 1].mean(dim=1) * b)  # [K]
        order = torch.argsort(-probs[..., 1], dim=1, stable=True)
        ranks = torch.argsort(order, dim=1, stable=True)
        pos = (ranks < n_pos[:, None]).to(logits.dtype)
        hard = torch.stack([1 - pos, pos], dim=-1)
    elif hardening == "balanced":
        hard = torch.nn.functional.one_hot(balanced_hard(probs, weak), c).to(logits.dtype)
    else:
        hard = torch.nn.functional.one_hot(probs.argmax(-1), c).to(logits.dtype)
    coef = coef[:, None, None]
    return (1 - coef) * weak + coef * hard


def class_quotas(weak: torch.Tensor) -> torch.Tensor:
    """long [K, c]: each model's class counts for its b rows, the weak labels' class shares
    in the batch times b, rounded down, the rest to the largest remainders (ties: lowest
    class), as `aar_recipes.balanced_argmax` rounds them."""
    b = weak.shape[1]
    raw = weak.double().sum(1)
    raw = raw / raw.sum(1, keepdim=True) * b
    quota = raw.floor()
    order = torch.argsort(quota - raw, dim=1, stable=True)
    ranks = torch.argsort(order, dim=1, stable=True)
    return (quota + (ranks < (b - quota.sum(1, keepdim=True)))).long()


def balanced_hard(probs: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """long [K, b]: hard labels with `class_quotas` counts, most probable (row, class) pairs
    first (exactly `aar_recipes.balanced_argmax`, per model, ties by position).

    It runs every step, so not pair by pair: each round takes, in order of their best free
    class's probability, the unlabelled rows up to the first whose class is already full
    (the pairs the greedy would take next, unchanged); that row's class is then full, so
    there are at most c + 1 rounds, each a few tensor ops across all K models."""
    k, b, c = probs.shape
    quota = class_quotas(weak)
    free = probs.clone()
    out = torch.zeros(k, b, dtype=torch.long, device=probs.device)
    done = torch.zeros(k, b, dtype=torch.bool, device=probs.device)
    while True:
        free.masked_fill_((quota == 0)[:, None, :] | done[:, :, None], -torch.inf)
        best, cls = free.max(-1)
        order = torch.argsort(-best, dim=1, stable=True)
        cls_s = cls.gather(1, order)
        live = ~done.gather(1, order)
        hot = torch.nn.functional.one_hot(cls_s, c) & live[..., None]
        over = hot.cumsum(1).gather(2, cls_s[..., None])[..., 0] > quota.gather(1, cls_s)
        take = live & (over.cumsum(1) == 0)
        if not bool(take.any()):
            return out
        out.scatter_(1, order, torch.where(take, cls_s, out.gather(1, order)))
        done.scatter_(1, order, take | done.gather(1, order))
        quota -= (hot & take[..., None]).sum(1)


def logconf_coef(
    aux_coef: torch.Tensor, step_frac: float, warmup_frac: float = 0.1
) -> torch.Tensor:
    """The auxiliary weight at `step_frac` of training, as in openai/weak-to-strong.

    During the first `warmup_frac` of steps it is `aux_coef * step_frac` (so it ramps to
    0.1 · aux_coef and then jumps to `aux_coef`); this reproduces the reference code exactly.
    """
    return aux_coef * step_frac if step_frac <= warmup_frac else aux_coef


def fit_predict(
    batch: Batch,
    eval_rows: dict[str, np.ndarray],
    config: StudentConfig,
    *,
    hidden: tuple[int, ...] | None = None,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Train K students and return their probabilities on `eval_rows` ({name: int [K, m]})."""
    return train_batch(batch, eval_rows, config, hidden=hidden, device=device).probs


def train_batch(
    batch: Batch,
    eval_rows: dict[str, np.ndarray],
    config: StudentConfig,
    *,
    hidden: tuple[int, ...] | None = None,
    device: str = "cpu",
) -> Trained:
    """Train K students; their probabilities on `eval_rows` ({name: int [K, m]}).

    With `batch.val_rows`, each model's predictions come from the epoch whose accuracy
    against the weak labels on its validation rows was best (early stopping; ties: earliest;
    a model whose best is `batch.patience` epochs old stops choosing).
    `hidden` overrides `config.hidden` (bootstrapping trains smaller models first).
    On CPU it runs on one torch thread: per-step overhead dominates these small models and
    a second thread only adds contention (measured several times slower on 2 busy cores).
    """
    dev = resolve_device(device)
    threads = 1 if dev.type == "cpu" else torch.get_num_threads()
    with torch_threads(threads):
        return _train(batch, eval_rows, config, hidden, dev)


class _Stopper:
    """Early stopping on weak-labelled validation rows, per model of a batch."""

    def __init__(self, batch: Batch, evals: dict[str, torch.Tensor], n_classes: int, dev):
        k = len(batch.seeds)
        self.val_rows = torch.as_tensor(batch.val_rows, dtype=torch.long, device=dev)
        self.val_weak = torch.as_tensor(batch.val_targets, device=dev).argmax(-1)
        self.patience = batch.patience
        self.best_acc = torch.full((k,), -1.0, device=dev)
        self.best_epoch = torch.full((k,), -1, dtype=torch.long, device=dev)
        self.stopped = torch.zeros(k, dtype=torch.bool, device=dev)
        self.best = {n: torch.zeros(*r.shape, n_classes, device=dev) for n, r in evals.items()}

    def after_epoch(self, epoch: int, predict, evals: dict[str, torch.Tensor]) -> bool:
        """Keep each improved model's predictions; True once every model has stopped."""
        acc = (predict(self.val_rows).argmax(-1) == self.val_weak).float().mean(1)
        better = (acc > self.best_acc) & ~self.stopped
        if better.any():
            self.best_acc = torch.where(better, acc, self.best_acc)
            self.best_epoch = torch.where(better, epoch, self.best_epoch)
            for name, r in evals.items():
                self.best[name][better] = predict(r)[better]
        if self.patience is not None:
            self.stopped |= epoch - self.best_epoch >= self.patience
        return bool(self.stopped.all())


def _train(
    batch: Batch,
    eval_rows: dict[str, np.ndarray],
    config: StudentConfig,
    hidden: tuple[int, ...] | None,
    dev: torch.device,
) -> Trained:
    dtype = torch.float32
    k, n = batch.train_rows.shape
    n_classes = batch.targets.shape[-1]
    hidden = tuple(config.hidden) if hidden is None else hidden

    x = torch.as_tensor(np.array(batch.x, dtype=np.float32), device=dev)  # a writable copy
    train_rows = torch.as_tensor(batch.train_rows, dtype=torch.long, device=dev)
    targets = torch.as_tensor(batch.targets, dtype=dtype, device=dev)
    # Standardise with each model's own training inputs (no labels involved).
    mean = torch.stack([x[r].mean(0) for r in train_rows])[:, None, :]
    std = torch.stack([x[r].std(0) for r in train_rows])[:, None, :].clamp_min(1e-6)
    aux = None
    if batch.aux_coef is not None:
        aux = torch.as_tensor(batch.aux_coef, dtype=dtype, device=dev)

    model = _StackedMLP([x.shape[1], *hidden, n_classes], batch.seeds, dev, dtype)
    opt = AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gens = [torch.Generator().manual_seed(int(s)) for s in batch.seeds]
    bs = min(config.batch_size, n)
    total = -(-n // bs) * config.epochs
    evals = {
        name: torch.as_tensor(r, dtype=torch.long, device=dev) for name, r in eval_rows.items()
    }

    def predict(rows: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(model.forward((x[rows] - mean) / std), dim=-1)

    stopper = None if batch.val_rows is None else _Stopper(batch, evals, n_classes, dev)
    # Standardised training inputs per model, gathered once; each epoch permutes them so
    # that a step is a contiguous slice (per-step overhead dominates small students).
    x_train = (x[train_rows] - mean) / std
    offsets = torch.arange(k, device=dev)[:, None] * n
    step = 0
    for epoch in range(config.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
        flat = (perm + offsets).reshape(-1)  # index_select: ~4x faster than gather on CPU
        x_epoch = x_train.reshape(k * n, -1).index_select(0, flat).reshape(k, n, -1)
        t_epoch = targets.reshape(k * n, -1).index_select(0, flat).reshape(k, n, -1)
        for start in range(0, n, bs):
            logits = model.forward(x_epoch[:, start : start + bs])
            tgt = t_epoch[:, start : start + bs]
            if aux is not None:
                coef = logconf_coef(aux, step / total)
                tgt = logconf_targets(logits, tgt, coef, batch.hardening)
            loss = -(tgt * torch.log_softmax(logits, -1)).sum(-1).mean(1).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        if stopper is not None and stopper.after_epoch(epoch, predict, evals):
            break
    if stopper is None:
        return Trained({name: predict(r).cpu().numpy() for name, r in evals.items()})
    return Trained(
        {name: p.cpu().numpy() for name, p in stopper.best.items()},
        best_epoch=stopper.best_epoch.cpu().numpy(),
        best_acc=stopper.best_acc.cpu().numpy(),
    )
