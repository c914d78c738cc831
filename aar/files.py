"""Path checks and crash-safe writes shared by every command that writes a user's files.

Checks run before any long work, so a bad path costs seconds, not a finished run. Writes go
to a temporary file in the same directory and are renamed into place, so a crash never
leaves half a file; `write_new` also refuses to replace a file that exists. Writability is
probed by creating (and removing) a temporary file: `os.access` says yes to root even on
read-only mounts and `/proc`.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aar.errors import AarError, PathError


def probe_writable(directory: Path) -> str | None:
    """None if a file can be created in `directory`, else the reason."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".aar-probe-")
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(name)
    return None


def nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (as anything, a broken link included)."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_names(path: str | os.PathLike[str], what: str) -> None:
    """Every name in `path` fits the filesystem's limits (else every later call on it fails)."""
    full = os.path.abspath(path)
    name_max, path_max = _limit("PC_NAME_MAX", 255), _limit("PC_PATH_MAX", 4096)
    shown = full if len(full) <= 80 else full[:60] + "..."
    if len(os.fsencode(full)) >= path_max:
        raise PathError(f"{what} {shown}: the path is over {path_max} bytes")
    for part in Path(full).parts:
        if len(os.fsencode(part)) > name_max:
            raise PathError(f"{what} {shown}: a name in it is over {name_max} bytes")


def _limit(name: str, default: int) -> int:
    try:
        return os.pathconf("/", name)
    except (OSError, ValueError):
        return default


def check_writable_dir(directory: Path, what: str) -> None:
    """`directory` exists, is a directory, and a file can be created in it."""
    check_names(directory, what)
    if not directory.exists():
        raise PathError(f"{what} {directory} does not exist")
    if not directory.is_dir():
        raise PathError(f"{what} {directory} is not a directory")
    reason = probe_writable(directory)
    if reason:
        raise PathError(f"{what} {directory} is not writable ({reason})")


def check_creatable(path: Path, what: str, *, parents: bool = False) -> None:
    """`path` does not exist and could be created (its parents too when `parents`)."""
    if path.exists() or path.is_symlink():
        raise PathError(f"{what} {path} already exists; choose a new name")
    check_names(path, what)
    base = nearest_existing(path.parent) if parents else Path(os.path.abspath(path.parent))
    if not base.exists():
        state = "is a broken or looping symbolic link" if base.is_symlink() else "does not exist"
        raise PathError(f"cannot create {what} {path}: directory {base} {state}")
    if not base.is_dir():
        raise PathError(f"cannot create {what} {path}: {base} is not a directory")
    reason = probe_writable(base)
    if reason:
        raise PathError(f"cannot create {what} {path}: {base} is not writable ({reason})")


def check_dir_or_creatable(directory: Path, what: str) -> None:
    """A directory to write into: an existing writable one, or one that can be created."""
    if directory.is_symlink() and not directory.exists():
        raise PathError(f"{what} {directory} is a dangling symbolic link")
    if directory.exists():
        check_writable_dir(directory, what)
    else:
        check_creatable(directory, what, parents=True)


def check_empty_or_creatable(directory: Path, what: str) -> None:
    """An output directory: missing (and creatable) or an empty, writable directory."""
    check_names(directory, what)
    if directory.is_symlink() and not directory.exists():
        raise PathError(f"{what} {directory} is a dangling symbolic link")
    if not directory.exists():
        check_creatable(directory, what, parents=True)
        return
    if not directory.is_dir():
        raise PathError(f"{what} {directory} exists and is not a directory")
    if any(directory.iterdir()):
        raise PathError(
            f"{what} {directory} exists and is not empty; choose a new or empty directory"
        )
    check_writable_dir(directory, what)


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def check_regular_or_absent(path: Path, what: str) -> None:
    """`path` is absent or a regular file (a link to one counts): what aar may replace.

    A device node, FIFO or socket would become a regular file under a rename (a `--force`
    export once replaced a machine's /dev/full), so it is refused, as is a dangling link."""
    if path.is_symlink() and not path.exists():
        raise PathError(f"{what} {path} is a dangling symbolic link; refusing to follow it")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PathError(f"{what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = _kind(mode)
        raise PathError(f"{what} {path} is {kind}, not a regular file; refusing to replace it")


def write_new(path: Path, data: bytes | str) -> None:
    """Write a file that must not exist yet, atomically; an existing file is never replaced."""
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise PathError(f"{path} appeared while aar was writing it; it was left as it is") from None
    except OSError as exc:
        raise PathError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.unlink(tmp)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace (or create) `path` atomically: readers see the old file or the new one.

    Only a regular file (or a symbolic link, which is replaced, not followed) is replaced:
    anything else at `path` is refused before a byte is written."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise PathError(f"cannot write {path}: {exc.strerror}") from None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise PathError(f"{path} is {_kind(mode)}, not a regular file; refusing to replace it")
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise PathError(f"cannot write {path}: {exc.strerror}") from None


def write_new_dir(directory: Path, files: dict[str, bytes | str]) -> None:
    """Create `directory` holding exactly `files`, all at once, never over existing files.

    The files are written into a hidden sibling and renamed into place in one step: an
    empty directory of that name is replaced, a non-empty one (or a file) is refused, and a
    crash leaves no half-written results under the final name.
    """
    if directory.is_symlink():  # replace what the link points to, not the link
        directory = Path(os.path.realpath(directory))
    parent = Path(os.path.abspath(directory)).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=".aar-staging-"))
    except OSError as exc:
        raise PathError(f"cannot create {directory}: {exc.strerror}") from None
    try:
        for name, data in files.items():
            write_new(staging / name, data)
        staging.chmod(0o777 & ~_umask())
        os.rename(staging, directory)
    except OSError as exc:
        reason = "it is not empty" if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) else exc.strerror
        raise PathError(f"cannot write {directory}: {reason}; nothing was written") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    """The process umask (read from /proc: setting it to read it would race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _write_temp(path: Path, data: bytes | str) -> str:
    """A fully written, fsync'd sibling of `path` (mode from the umask, like a plain write)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = str(path.with_name(f".aar-{os.getpid()}-{secrets.token_hex(4)}.tmp"))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise PathError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        os.unlink(tmp)
        raise PathError(f"cannot write {path}: {exc.strerror}") from None
    return tmp


@contextmanager
def held_lock(path: Path, timeout: float, *, busy: AarError, what: str) -> Iterator[None]:
    """Hold the file lock at `path` for the block. Another process holding it past `timeout`
    raises `busy`; a lock that cannot be made at all is a `PathError` naming `what`: one clear
    line either way, never a filelock traceback."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise busy from None
    except OSError as exc:
        raise PathError(f"cannot lock {what}: {exc.strerror}") from None
    try:
        yield
    finally:
        lock.release()
