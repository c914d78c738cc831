"""The installation's task key: the one secret between an experiment and the labels.

Everything a sandboxed experiment sees is a deterministic function of public code, public
seeds and this key. Without the key, three routes would rebuild ground truth from public
knowledge alone: the row order of an exported split (a public split RNG concatenates each
split class by class, then shuffles with a known permutation), the opaque ids (drawn from the
same RNG), and the synthetic tasks' pools (a generator with a known seed). With the key
mixed in, all three are unpredictable to the sandbox, which never sees this file.

The key is created once (32 random bytes, mode 0600) at `settings.bench.key_file` and must
not change under a running session: exported ids would no longer match the evaluator's.
Share the file to make two installations export (and generate) identical tasks.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from aar.bench._errors import LabelsElsewhereError
from aar.errors import AarError
from aar.keys import KeyFileProblem, key_bytes


class TaskKeyError(AarError):
    """The task key file cannot be read or created."""


def key_file() -> Path:
    """The configured key file (`settings.bench.key_file`, default under `$XDG_DATA_HOME`)."""
    from aar.config import get_settings

    return get_settings().bench.key_file


def task_key() -> bytes:
    """The 32-byte key of this installation, created on first use.

    Refused in a process that scores through a scorer service: with the key and a bundled
    data set, a worker could rebuild what the service keeps from it."""
    labels_here("the task key")
    return _read_or_create(key_file().expanduser().resolve())


def labels_here(what: str) -> None:
    """Fail closed where ground truth must not be: a process configured with `scorer.url`."""
    from aar.config import get_settings

    url = get_settings().scorer.url
    if url is not None:
        raise LabelsElsewhereError(
            f"this process scores through the scorer service at {url}: it never reads {what}"
        )


def key_id() -> str:
    """A short fingerprint of the key (not the key): recorded so a changed key is noticed."""
    return hashlib.sha256(b"aar-key-id|" + task_key()).hexdigest()[:16]


def keyed_rng(*parts: str | int) -> np.random.Generator:
    """A generator seeded by the key and `parts` (e.g. a purpose, a task name, a seed)."""
    digest = hashlib.sha256(task_key() + repr(parts).encode()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


@lru_cache(maxsize=4)
def _read_or_create(path: Path) -> bytes:
    try:
        return key_bytes(path, create=True)
    except KeyFileProblem as exc:
        if exc.kind == "damaged":
            raise TaskKeyError(
                f"task key {path} holds {exc.detail}: it is damaged. Restore it from a backup; "
                "deleting it makes a new key, and sessions exported under the old one can no "
                "longer be scored"
            ) from None
        verb = "create" if exc.kind == "uncreatable" else "read"
        raise TaskKeyError(f"cannot {verb} the task key {path}: {exc.detail}") from None
