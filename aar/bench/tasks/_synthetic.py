"""A generated task whose weak/strong gap is a parameter, for sweeps over the gap.

Latent z ~ N(0, I_k) decides the label through a linear part and a pairwise interaction.
The strong view is a random linear mixing of all of z (plus a little noise); the weak view
is z itself plus independent noise of standard deviation `gap`. A logistic regression on
the weak view cannot use the interaction and is misled by the noise; neither error is a
function of the strong view the student could copy exactly, so weak-to-strong gains are
possible and `gap` moves the weak accuracy smoothly (gap=0: the weak model only misses the
interaction).

The generator is seeded by `data_seed` *and* the installation's task key: with a public seed
alone, an experiment could run this same code and read off every label. So two installations
draw different pools from the same distribution, unless they share the key file.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

import numpy as np
from sklearn.linear_model import LogisticRegression

from aar.bench._key import key_id, keyed_rng
from aar.bench._registry import InvalidTaskError, register_task
from aar.bench._task import LabelSource, StudentConfig, TaskData, WeakModel
from aar.bench.tasks._base import CachedTask


class SyntheticTask(CachedTask):
    """Binary task on a Gaussian latent; `gap` is the weak view's noise level."""

    weak_description = "logistic regression on a noisy copy of the latent (noise std = gap)"
    strong_description = "MLP on a random linear mixing of the full latent"
    n_classes = 2
    # Chosen on the ceiling only: real runner, seeds 42-46, hidden {(),(64,),(128,),(128,128)}
    # x epochs {10,20,50}; fewest epochs (then fewest units) within 1 point of the best
    # mean test ceiling at gap 1 (best 0.954, (64,) x 20); one config for every gap.
    student = StudentConfig(hidden=(64,), epochs=10, lr=1e-3, batch_size=64)
    label_sources = (
        LabelSource(
            task_key=True,
            why="the generator is seeded by the installation's task key (without it, the "
            "public data seed would regenerate every label)",
        ),
    )

    def __init__(
        self,
        gap: float,
        *,
        n: int = 4000,
        d_latent: int = 8,
        d_strong: int = 32,
        interaction: float = 0.3,
        label_noise: float = 0.02,
        data_seed: int = 0,
        name: str | None = None,
    ) -> None:
        """See `make_synthetic_task`."""
        if not gap >= 0:
            raise InvalidTaskError(f"synthetic task: gap must be >= 0, got {gap}")
        if n < 100 or d_latent < 2 or d_strong < d_latent or not 0 <= label_noise < 0.5:
            raise InvalidTaskError(
                "synthetic task: need n >= 100, d_latent >= 2, d_strong >= d_latent and "
                f"0 <= label_noise < 0.5 (got n={n}, d_latent={d_latent}, d_strong={d_strong}, "
                f"label_noise={label_noise})"
            )
        self.gap = gap
        self.n = n
        self.d_latent = d_latent
        self.d_strong = d_strong
        self.interaction = interaction
        self.label_noise = label_noise
        self.data_seed = data_seed
        self.name = name or f"synthetic-gap-{gap:g}"
        self.description = (
            f"Generated: {n} points, {d_latent}-d Gaussian latent, label = sign(linear + "
            f"{interaction:g} * z0 * z1), {label_noise:.0%} labels flipped; weak noise std {gap:g}."
        )

    def data_token(self) -> str:
        return key_id()

    def _build(self) -> TaskData:
        rng = keyed_rng("synthetic-pool", self.data_seed)
        z = rng.standard_normal((self.n, self.d_latent))
        w = rng.standard_normal(self.d_latent)
        w /= np.linalg.norm(w)
        score = z @ w + self.interaction * z[:, 0] * z[:, 1]
        y = (score > 0).astype(np.int64)
        flip = rng.random(self.n) < self.label_noise
        y[flip] = 1 - y[flip]
        mixing = rng.standard_normal((self.d_latent, self.d_strong)) / np.sqrt(self.d_latent)
        x_strong = z @ mixing + 0.05 * rng.standard_normal((self.n, self.d_strong))
        x_weak = z + self.gap * rng.standard_normal((self.n, self.d_latent))
        return TaskData(x_strong=x_strong, x_weak=x_weak, y=y)

    def make_weak_model(self, seed: int) -> WeakModel:
        """Linear: blind to the interaction term whatever the noise."""
        return LogisticRegression(C=1.0, max_iter=1000)


class _SyntheticOptions(TypedDict, total=False):
    """The keyword arguments of `SyntheticTask`, so `make_synthetic_task`'s are checked too."""

    n: int
    d_latent: int
    d_strong: int
    interaction: float
    label_noise: float
    data_seed: int
    name: str | None


def make_synthetic_task(gap: float, **options: Unpack[_SyntheticOptions]) -> SyntheticTask:
    """An (unregistered) synthetic task with weak-view noise `gap`, for sweeps.

    Keyword arguments: `n` (4000), `d_latent` (8), `d_strong` (32), `interaction` (0.3),
    `label_noise` (0.02), `data_seed` (0), `name` (default `synthetic-gap-<gap>`).
    Register the result with `register_task` to use it by name.
    """
    return SyntheticTask(gap, **options)


for _level, _gap in (("small", 0.3), ("medium", 1.0), ("large", 2.0)):
    register_task(make_synthetic_task(_gap, name=f"synthetic-gap-{_level}"))
