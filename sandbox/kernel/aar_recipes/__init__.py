"""aar_recipes: the method space. A `MethodConfig` composes small typed components, and
`train_config` trains it with `aar_methods`' student trainer, for the bench and the kernel.

Like `aar_methods` it imports nothing of aar: the kernel imports it from its read-only mount
and `aar bench run` loads the same files by path. Scripts pin `LIBRARY_SHA256` here, the
digest of both packages (`require`), so a script's sha256 covers all its training code; an
earlier digest is still accepted when these files reproduce that version bit for bit
(`COMPATIBLE_SHA256`, proved against its archived files), so earlier follow-ups still run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aar_methods import Outcome, SeedData, public_seeds

from ._config import (
    FAMILY_CONFIGS,
    Control,
    Ensemble,
    Geometry,
    Labels,
    Loss,
    MethodConfig,
    Relabel,
    Selection,
    Training,
    diff,
)
from ._digest import recipes_sha256
from ._recipe import train_config
from ._targets import balanced_argmax, label_targets, propagate

LIBRARY_SHA256 = recipes_sha256()
"""The digest of `aar_methods` and `aar_recipes` as this process found them."""


class LibraryMismatchError(RuntimeError):
    """The library here is not the one a script was written (and hashed) against."""


COMPATIBLE_SHA256: dict[str, str] = {
    "d60f212e34116ccecb16cabd65f9024e766cdad06ada8df1b40fb485e354756f": (
        "935a2f6: identical outputs for every configuration it could train, batched or not"
    ),
}
"""Earlier digests this library stands in for, each with how we know: versions whose every
entry point these files reproduce bit for bit (tested against the archived files, in
tests/bench/data/library-archive/), so scripts pinned to them still run."""


def require(sha256: str) -> None:
    """Fail unless this library is the one a script pinned, or reproduces it exactly."""
    if sha256 != LIBRARY_SHA256 and sha256 not in COMPATIBLE_SHA256:
        raise LibraryMismatchError(
            f"aar_recipes here has sha256 {LIBRARY_SHA256[:16]}..., the script was written "
            f"for {str(sha256)[:16]}...: refusing to run code it was not hashed with"
        )


def train_public(config: MethodConfig | dict, files: dict, seed: int):
    """The kernel's entry point: `config` on one (task, seed) from its exported files."""
    checked = MethodConfig.model_validate(config)
    return train_config(checked, [SeedData.from_public(files, seed)])[0]


def train_public_seeds(
    config: MethodConfig | dict,
    files: Mapping[int, dict],
    seeds: Sequence[int],
    *,
    batch: bool = True,
) -> list[Outcome]:
    """The kernel's stacked entry point: `config` on every seed of a task at once, from
    `files[seed]` (each seed's exported files); one `Outcome` per seed, in order. With `batch`
    the seeds train as one stacked model, exactly what the bench's batched `train_students`
    trains for the same seeds in the same order."""
    checked = MethodConfig.model_validate(config)
    return train_config(checked, public_seeds(files, seeds), batch=batch)


__all__ = [
    "COMPATIBLE_SHA256",
    "FAMILY_CONFIGS",
    "LIBRARY_SHA256",
    "Control",
    "Ensemble",
    "Geometry",
    "Labels",
    "LibraryMismatchError",
    "Loss",
    "MethodConfig",
    "Relabel",
    "Selection",
    "Training",
    "balanced_argmax",
    "diff",
    "label_targets",
    "propagate",
    "recipes_sha256",
    "require",
    "train_config",
    "train_public",
    "train_public_seeds",
]
