"""The installation's review key: what makes the audit log's chain unforgeable.

Each audit record carries an HMAC-SHA256 under this key, so a line written by hand (or by a
process that can write the runs directory but cannot read the key, such as the sandboxed
kernel, which never sees it) fails verification. The key is 32 random bytes, mode 0600, at
`settings.review.key_file`, created when the first decision is recorded. It is never
replaced: a damaged or missing key makes every existing log unverifiable, which is a
refusal, not a reason to make a new key.
"""

from __future__ import annotations

import os
from pathlib import Path

from aar.review._errors import ReviewKeyError

KEY_BYTES = 32


def review_key_file() -> Path:
    """The configured key file (`settings.review.key_file`), absolute."""
    from aar.config import get_settings

    return get_settings().review.key_file.expanduser().resolve()


def review_key(path: Path | None = None, *, create: bool = False) -> bytes:
    """The 32-byte key at `path` (default: the configured file); `create` makes it if absent."""
    path = path or review_key_file()
    if not path.exists():
        if not create:
            raise ReviewKeyError(
                f"the review key {path} is missing, so the audit log cannot be checked; "
                "restore it from a backup (a new key cannot verify the existing log)"
            )
        _create(path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ReviewKeyError(f"cannot read the review key {path}: {exc.strerror}") from None
    if len(key) != KEY_BYTES:
        raise ReviewKeyError(
            f"review key {path} holds {len(key)} bytes, not {KEY_BYTES}: it is damaged; "
            "restore it from a backup (it was left as it is)"
        )
    return key


def _create(path: Path) -> None:
    """Write a fresh key atomically; a concurrent creator's key wins if it was first."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
        raise ReviewKeyError(f"cannot create the review key {path}: {exc.strerror}") from None
