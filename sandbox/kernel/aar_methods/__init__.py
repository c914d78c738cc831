"""aar_methods: the one implementation of every student method, for the bench and the kernel.

The same files train the session's experiments inside the sandboxed kernel (mounted
read-only at /opt/aar, on its PYTHONPATH) and `aar bench run` on the host (loaded by path from
the shipped `sandbox/kernel/`, `aar.bench._train.library`). They import only numpy and torch,
never aar. `LIBRARY_SHA256` is the digest of these files; an experiment script pins it
(`require`), so the sha256 of a script covers the library it runs with, and a kernel given
other files (e.g. a configured `[sandbox] policy_dir` with an edited copy) refuses to train.
The library is versioned: `require` also accepts the earlier digests of `COMPATIBLE_SHA256`,
versions whose every entry point these files reproduce bit for bit (tested against their
archived files), so scripts pinned to them still run.
"""

from __future__ import annotations

from ._digest import library_sha256
from ._families import (
    METHODS,
    SPLITS,
    Fit,
    Fitted,
    Outcome,
    SeedData,
    derived_seed,
    fitter,
    public_seeds,
    train,
    train_public,
    train_public_seeds,
)
from ._train import (
    HARDENINGS,
    AdamW,
    Batch,
    Config,
    Trained,
    balanced_hard,
    class_quotas,
    fit_predict,
    logconf_coef,
    logconf_targets,
    resolve_device,
    train_batch,
)

LIBRARY_SHA256 = library_sha256()
"""The digest of the files this process imported (read once, at import)."""


class LibraryMismatchError(RuntimeError):
    """The library here is not the one a script was written (and hashed) against."""


COMPATIBLE_SHA256: dict[str, str] = {
    "fa7eea747400fc41e1c6f690df766bf9eddaef22ab1965dd1bd85972661468be": (
        "935a2f6: identical outputs for every method it could train, batched or not"
    ),
}
"""Earlier digests this library stands in for, each with how we know: versions whose every
entry point these files reproduce bit for bit (tested against the archived files, in
tests/bench/data/library-archive/), so scripts pinned to them still run."""


def require(sha256: str) -> None:
    """Fail unless this library is the one a script pinned, or reproduces it exactly."""
    if sha256 != LIBRARY_SHA256 and sha256 not in COMPATIBLE_SHA256:
        raise LibraryMismatchError(
            f"aar_methods here has sha256 {LIBRARY_SHA256[:16]}..., the script was written "
            f"for {str(sha256)[:16]}...: refusing to run code it was not hashed with"
        )


__all__ = [
    "COMPATIBLE_SHA256",
    "HARDENINGS",
    "LIBRARY_SHA256",
    "METHODS",
    "SPLITS",
    "AdamW",
    "Batch",
    "Config",
    "Fit",
    "Fitted",
    "LibraryMismatchError",
    "Outcome",
    "SeedData",
    "Trained",
    "balanced_hard",
    "class_quotas",
    "derived_seed",
    "fit_predict",
    "fitter",
    "library_sha256",
    "logconf_coef",
    "logconf_targets",
    "public_seeds",
    "require",
    "resolve_device",
    "train",
    "train_batch",
    "train_public",
    "train_public_seeds",
]
