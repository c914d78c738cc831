"""Secret key files: 32 random bytes, mode 0600, created once and never replaced.

Two keys use this: the task key (`aar.bench`: orders exports, seeds synthetic pools) and the
review key (`aar.review`: signs the audit chain). Both live outside anything the sandbox binds.
Each package turns a `KeyFileProblem` into its own one-line error, since what a damaged key
means (and how to recover) differs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

KEY_BYTES = 32
Problem = Literal["missing", "unreadable", "damaged", "uncreatable"]


class KeyFileProblem(Exception):
    """Why a key file cannot be used (`kind`), with the operating system's or a size detail."""

    def __init__(self, kind: Problem, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def key_bytes(path: Path, *, create: bool) -> bytes:
    """The key at `path`; with `create`, a missing key is made first (never a damaged one)."""
    if not path.exists():
        if not create:
            raise KeyFileProblem("missing")
        _create(path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise KeyFileProblem("unreadable", exc.strerror or type(exc).__name__) from None
    if len(key) != KEY_BYTES:
        raise KeyFileProblem("damaged", f"{len(key)} bytes, not {KEY_BYTES}")
    return key


def _create(path: Path) -> None:
    """Write a fresh key atomically; a concurrent creator's key wins if it was first."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # one name per creator: two threads of one process (a web server's) may both create
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process created the key meanwhile
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise KeyFileProblem("uncreatable", exc.strerror or type(exc).__name__) from None
