"""The host side of one experiment directory: scratch (the kernel's), task (read-only), notebook.

The kernel controls `scratch/`, so the host never follows a link in it: every read, write and
listing walks the path one component at a time with `O_NOFOLLOW` relative to an open
directory, which also closes the race of a directory swapped for a link after a check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from aar.sandbox._errors import SandboxUsageError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ExperimentDir:
    """`root/scratch` (the kernel's only writable place), `root/task`, the notebook."""

    def __init__(self, root: str | os.PathLike[str], notebook_name: str = "notebook.ipynb"):
        self.root = Path(root).resolve()
        self.notebook_name = notebook_name

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def notebook(self) -> Path:
        return self.root / self.notebook_name

    def prepare(self, task_src: Path | None) -> None:
        """Create scratch and task (with `task_src`'s files), readable by any sandbox uid."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        if task_src is not None:
            copy_task(task_src, self.task)
        self.task.mkdir(parents=True, exist_ok=True)
        self.task.chmod(0o755)

    def relocate(self, target: Path) -> None:
        """Rename the directory (same filesystem); bind mounts follow it, not its name."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rmdir()  # only an empty directory may be taken over
        os.rename(self.root, target)
        self.root = target

    def give(self, uid: int, gid: int) -> None:
        """Hand scratch to `uid` (without following links the kernel may have planted)."""
        os.lchown(self.scratch, uid, gid)
        for dirpath, dirnames, filenames in os.walk(self.scratch, followlinks=False):
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(dirpath, name), uid, gid)

    # -- files in scratch ------------------------------------------------------------------
    def read(self, relative: str, max_bytes: int) -> bytes:
        """The bytes of a regular file in scratch (at most `max_bytes`, else an error)."""
        parent, name = self._parent_fd(relative, create=False)
        try:
            fd = _open_no_follow(parent, name, os.O_RDONLY, relative)
        finally:
            os.close(parent)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise SandboxUsageError(f"{relative!r} is not a regular file in scratch")
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SandboxUsageError(f"{relative!r} in scratch is larger than {max_bytes} bytes")
        return data

    def write(self, relative: str, data: bytes) -> None:
        """Create or replace a file in scratch (parents made as needed), readable by the kernel."""
        parent, name = self._parent_fd(relative, create=True)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent)  # a link planted there is removed, not followed
            fd = _open_no_follow(parent, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, relative)
        finally:
            os.close(parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), 0o644)

    def list(self) -> dict[str, int]:
        """Every regular file in scratch (relative path -> size); links are not followed."""
        out: dict[str, int] = {}
        for dirpath, _dirnames, filenames in os.walk(self.scratch, followlinks=False):
            for name in filenames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    st = os.lstat(path)
                    if stat.S_ISREG(st.st_mode):
                        out[os.path.relpath(path, self.scratch)] = st.st_size
        return dict(sorted(out.items()))

    def used_bytes(self) -> int:
        """Disk blocks used under scratch, without following links."""
        total = 0
        stack = [str(self.scratch)]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
        return total

    def _parent_fd(self, relative: str, *, create: bool) -> tuple[int, str]:
        """An open descriptor of the directory holding `relative`, and the final name."""
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or any(p in ("..", ".") for p in parts):
            raise SandboxUsageError(f"{relative!r} is not a path inside scratch")
        fd = os.open(self.scratch, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                child = _open_no_follow(fd, part, _DIR_FLAGS, relative)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd, parts[-1]


def _open_no_follow(dir_fd: int, name: str, flags: int, relative: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link, or a link/file as a directory
            raise SandboxUsageError(f"{relative!r} in scratch is a symlink; refused") from None
        raise SandboxUsageError(f"{relative!r} in scratch: {exc.strerror}") from None


def copy_task(src: Path, dest: Path) -> None:
    """Hard-link (or copy) public task files into `dest`, readable by the sandbox uid."""
    if not src.is_dir():
        raise SandboxUsageError(f"task directory {src} does not exist")
    dest.mkdir(parents=True, exist_ok=True)

    def link_or_copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
        os.chmod(d, 0o644)

    shutil.copytree(src, dest, dirs_exist_ok=True, copy_function=link_or_copy)
    for dirpath, _dirs, _files in os.walk(dest):
        os.chmod(dirpath, 0o755)


def read_scratch_file(experiment_dir: Path, relative: str, max_bytes: int) -> bytes:
    """A file of a (finished) experiment's scratch, read without following links."""
    return ExperimentDir(experiment_dir).read(relative, max_bytes)


def scratch_files(experiment_dir: Path) -> dict[str, int]:
    """Every regular file in a (finished) experiment's scratch: relative path -> size."""
    return ExperimentDir(experiment_dir).list()
