"""Vision tasks on scikit-learn's bundled `digits` (1,797 8x8 grey images, 0-16 per pixel).

Digits is small: with the protocol's splits a test split holds only a few hundred
images, so per-seed numbers move by a point or two; read them over all seeds.
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from aar.bench._registry import register_task
from aar.bench._task import LabelSource, StudentConfig, TaskData, WeakModel
from aar.bench.tasks._base import CachedTask


def _pixels() -> tuple[np.ndarray, np.ndarray]:
    """Images scaled to [0, 1] as [n, 64], and their digit labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


DIGITS_SOURCE = LabelSource(
    distribution="scikit-learn",
    path="sklearn/datasets/data/digits.csv.gz",
    why="scikit-learn's bundled digits: the images with their digit labels (load_digits)",
)


def pool_4x4(pixels: np.ndarray) -> np.ndarray:
    """Average-pool 8x8 images to 4x4 (each weak pixel is a 2x2 block): [n, 16]."""
    return pixels.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16).astype(np.float32)


@register_task
class DigitsHighLowTask(CachedTask):
    """Is the digit 5-9 rather than 0-4? A shallow tree supervises an MLP on all pixels."""

    name = "digits-ge5"
    description = (
        "scikit-learn digits (1,797 8x8 images): is the digit >= 5? Binary, 50/50. "
        "The weak tree's errors are axis-aligned threshold mistakes, unlike the MLP's."
    )
    weak_description = "decision tree of depth 3 on the 64 raw pixels (different inductive bias)"
    strong_description = "MLP on the 64 raw pixels"
    n_classes = 2
    # Chosen on the ceiling only: real runner, seeds 42-46, hidden {(),(64,),(128,),(128,128)}
    # x epochs {10,20,50}; fewest epochs (then fewest units) within 1 point of the best
    # mean test ceiling (best 0.970, (128,128) x 50).
    student = StudentConfig(hidden=(128,), epochs=10, lr=1e-3, batch_size=32)
    label_sources = (DIGITS_SOURCE,)

    def _build(self) -> TaskData:
        pixels, digit = _pixels()
        return TaskData(x_strong=pixels, x_weak=pixels, y=(digit >= 5).astype(np.int64))

    def make_weak_model(self, seed: int) -> WeakModel:
        """Depth 3: a coarse partition of pixel space (about 75 % accurate)."""
        return DecisionTreeClassifier(max_depth=3, random_state=seed)


@register_task
class DigitsTenTask(CachedTask):
    """Ten-way digit recognition; the weak supervisor sees 4x4 pooled images only."""

    name = "digits-10"
    description = (
        "scikit-learn digits (1,797 8x8 images), 10 classes. The weak supervisor sees "
        "low-resolution images through a shallow tree; the student sees every pixel."
    )
    weak_description = "decision tree of depth 4 on 4x4 average-pooled pixels (16 features)"
    strong_description = "MLP on the 64 raw pixels"
    n_classes = 10
    # Chosen on the ceiling only: real runner, seeds 42-46, hidden {(),(64,),(128,),(128,128)}
    # x epochs {10,20,50}; fewest epochs (then fewest units) within 1 point of the best
    # mean test ceiling (best 0.971, (128,) x 50).
    student = StudentConfig(hidden=(128, 128), epochs=10, lr=1e-3, batch_size=32)
    label_sources = (DIGITS_SOURCE,)

    def _build(self) -> TaskData:
        pixels, digit = _pixels()
        return TaskData(x_strong=pixels, x_weak=pool_4x4(pixels), y=digit)

    def make_weak_model(self, seed: int) -> WeakModel:
        """Depth 4 on pooled pixels: loses fine strokes and splits coarsely (about 60 %)."""
        return DecisionTreeClassifier(max_depth=4, random_state=seed)
