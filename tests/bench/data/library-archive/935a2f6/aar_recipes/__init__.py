"""aar_recipes: the method space. A `MethodConfig` composes small typed components, and
`train_config` trains it with `aar_methods`' student trainer, for the bench and the kernel.

Like `aar_methods` it imports nothing of aar: the kernel imports it from its read-only mount
and `aar bench run` loads the same files by path. `aar_methods` stays byte for byte what
earlier scripts pinned (their follow-ups still run); new scripts pin `LIBRARY_SHA256` here,
the digest of both packages (`require`), so a script's sha256 covers all its training code.
"""

from __future__ import annotations

from aar_methods import SeedData

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


def require(sha256: str) -> None:
    """Fail unless these libraries are the ones whose digest a script pinned."""
    if sha256 != LIBRARY_SHA256:
        raise LibraryMismatchError(
            f"aar_recipes here has sha256 {LIBRARY_SHA256[:16]}..., the script was written "
            f"for {str(sha256)[:16]}...: refusing to run code it was not hashed with"
        )


def train_public(config: MethodConfig | dict, files: dict, seed: int):
    """The kernel's entry point: `config` on one (task, seed) from its exported files."""
    checked = MethodConfig.model_validate(config)
    return train_config(checked, [SeedData.from_public(files, seed)])[0]


__all__ = [
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
]
