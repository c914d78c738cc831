"""The installation's review key: what makes the audit log's chain unforgeable.

Each audit record carries an HMAC-SHA256 under this key, so a line written by hand (or by a
process that can write the runs directory but cannot read the key, such as the sandboxed
kernel, which never sees it) fails verification. The key is 32 random bytes, mode 0600, at
`settings.review.key_file`, created when the first decision is recorded. It is never
replaced: a damaged or missing key makes every existing log unverifiable, which is a
refusal, not a reason to make a new key.
"""

from __future__ import annotations

from pathlib import Path

from aar.keys import KeyFileProblem, key_bytes
from aar.review._errors import ReviewKeyError


def review_key_file() -> Path:
    """The configured key file (`settings.review.key_file`), absolute."""
    from aar.config import get_settings

    return get_settings().review.key_file.expanduser().resolve()


def review_key(path: Path | None = None, *, create: bool = False) -> bytes:
    """The 32-byte key at `path` (default: the configured file); `create` makes it if absent."""
    path = path or review_key_file()
    try:
        return key_bytes(path, create=create)
    except KeyFileProblem as exc:
        raise ReviewKeyError(_problem(path, exc)) from None


def _problem(path: Path, exc: KeyFileProblem) -> str:
    if exc.kind == "missing":
        return (
            f"the review key {path} is missing, so the audit log cannot be checked; "
            "restore it from a backup (a new key cannot verify the existing log)"
        )
    if exc.kind == "damaged":
        return (
            f"review key {path} holds {exc.detail}: it is damaged; "
            "restore it from a backup (it was left as it is)"
        )
    verb = "create" if exc.kind == "uncreatable" else "read"
    return f"cannot {verb} the review key {path}: {exc.detail}"
