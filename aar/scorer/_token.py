"""The scorer service's token file: 32 random bytes as 64 hex characters, mode 0600.

Hex text rather than the raw bytes of `aar.keys` (which the task and review keys use), so
the token can be copied to a cluster's workers or given to curl as it is. Created once,
atomically, and never replaced; a token others may read is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from aar.errors import PathError

TOKEN_FILE = "service.token"
TOKEN_CHARS = 64


def token_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The token file: `path`, or `service.token` in the installation's scorer directory."""
    if path is not None:
        return Path(path).expanduser()
    from aar.scorer._scorer import scorer_dir

    return scorer_dir() / TOKEN_FILE


def read_token(path: str | os.PathLike[str] | None = None, *, create: bool = False) -> str:
    """The service token in `path` (see `token_path`); with `create`, a missing one is made
    first (32 random bytes as hex, mode 0600, never replacing an existing file). A token that
    others may read is refused: it is the only thing between a worker and the labels' scores."""
    file = token_path(path)
    if create and not file.exists():
        _create_token(file)
    try:
        st = file.stat()
        text = file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise PathError(f"no scorer token at {file}; `aar scorer serve` creates one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PathError(f"cannot read the scorer token {file}: {exc}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PathError(f"the scorer token {file} is readable by others; chmod 600 it")
    if len(text) != TOKEN_CHARS or any(c not in "0123456789abcdef" for c in text):
        raise PathError(f"the scorer token {file} is damaged (not {TOKEN_CHARS} hex characters)")
    return text


def _create_token(file: Path) -> None:
    """Write a fresh token atomically (a concurrent creator's token wins if it was first)."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = file.with_name(f".{file.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_bytes(32).hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, file)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise PathError(f"cannot create the scorer token {file}: {exc.strerror}") from None
