"""Append-only JSONL logs: the one file format for aar's records (evaluations, session events).

A log is UTF-8 text, one JSON object per line. Line 1 is a header naming the log's kind and
format version, `{"aar_log": "eval-records", "version": 1}`, so one kind of log is never read
as another and a file that is not an aar log is never appended to.

- `append` writes one line under a file lock (`<log>.lock`), flushed and fsync'd. Measured on
  this machine's disk: 0.9 ms per append with the fsync, 0.4 ms without (3.7 / 0.6 ms under
  load from other jobs); `fsync=False` skips it for logs that can be rebuilt.
- A crash mid-write leaves a torn last line (no newline, not a whole record). Reading skips it;
  the next append moves its bytes to `<log>.torn` and cuts them off, so nothing is thrown away.
- A damaged line anywhere else is a `LogCorruptError` naming the line: aar does not guess.
- Opening checks the path and the header without writing; a log of another kind, or a file
  that is not an aar log, is a `LogFormatError` and the file is left untouched.
- `legacy=True` accepts a headerless file (written before logs had headers) when every line is
  a record of the log's model. The first append puts the header in front, rewriting the file
  atomically with the same lines after it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from aar.errors import AarError, PathError, validation_message
from aar.files import check_names, check_writable_dir, held_lock, write_atomic

HEADER_KEY = "aar_log"
_HEADER_PROBE_BYTES = 1 << 20  # a first line longer than this is no header and no record

T = TypeVar("T", bound=BaseModel)
State = Literal["new", "log", "legacy"]


class LogError(AarError):
    """A log file aar cannot use as asked."""


class LogFormatError(LogError):
    """The file is not an aar log of the expected kind and version (it is left untouched)."""


class LogCorruptError(LogError):
    """A line before the last one is not a valid record: the log was damaged, not torn."""


class JsonlLog(Generic[T]):
    """An append-only log of `model` records in `path`, of one `kind` (see the module doc).

    Args:
        path: the log file; it need not exist, but its directory must (and be writable).
        kind: what the log holds, e.g. "eval-records"; stored in the header, checked on open.
        model: the pydantic model of every record.
        version: the record format version this code writes and reads.
        legacy: accept a headerless file whose lines are all `model` records.
        fsync: fsync after every append (survives a power loss; see the module doc for cost).
        lock_timeout: seconds to wait for another process's append.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        kind: str,
        model: type[T],
        *,
        version: int = 1,
        legacy: bool = False,
        fsync: bool = True,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.model = model
        self.version = version
        self.legacy = legacy
        self.fsync = fsync
        self.lock_timeout = lock_timeout
        self.torn_tail: bytes | None = None
        """The torn last line seen by the latest read, if any (it is not a record)."""
        self._header = (json.dumps({HEADER_KEY: kind, "version": version}) + "\n").encode()
        self._check_path()
        self.state: State = self._inspect()

    # ------------------------------------------------------------------ reading

    def read(self) -> list[T]:
        """Every record in order; a torn last line is skipped (see `torn_tail`)."""
        self.state = self._inspect()
        self.torn_tail = None
        if self.state == "new":
            return []
        lines = self._read_bytes().split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        first = 2 if self.state == "log" else 1  # line 1 of a log is its header
        records = [
            self._parse(line, n) for n, line in enumerate(lines, 1) if n >= first and line.strip()
        ]
        if tail.strip():
            record = self._try_parse(tail)
            if record is None:
                self.torn_tail = tail
            else:
                records.append(record)  # a whole record whose newline is missing
        return records

    def _parse(self, line: bytes, n: int) -> T:
        try:
            return self.model.model_validate_json(line)
        except ValidationError as exc:
            what = validation_message(exc)
        raise LogCorruptError(
            f"{self.path} line {n} is damaged and is not the last line ({what}); the other "
            "lines are intact: fix or remove that line by hand"
        )

    def _try_parse(self, line: bytes) -> T | None:
        try:
            return self.model.model_validate_json(line)
        except ValidationError:
            return None

    # ------------------------------------------------------------------ writing

    def append(self, record: T) -> None:
        """Add one record as one line, under the lock; the header comes first in a new log."""
        if not isinstance(record, self.model):
            raise TypeError(f"{self.kind} log records are {self.model.__name__}")
        line = record.model_dump_json().encode() + b"\n"
        with self._lock():
            self.state = self._inspect()
            if self.state == "legacy":
                self._upgrade(line)
                return
            self._append_line(line)

    def _append_line(self, line: bytes) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise PathError(f"cannot write log {self.path}: {exc.strerror}") from None
        try:
            if self.state == "new":
                os.ftruncate(fd, 0)  # at most a torn header of an earlier crash
                prefix = self._header
            else:
                prefix = self._mend_tail(fd)
            _write_all(fd, prefix + line)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            raise PathError(f"cannot write log {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _mend_tail(self, fd: int) -> bytes:
        """Before appending: a missing newline is added; a torn line is moved to `<log>.torn`."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return b""
        start = _last_line_start(fd, size)
        tail = os.pread(fd, size - start, start)
        if self._try_parse(tail) is not None:
            return b"\n"
        with open(self.path.with_name(self.path.name + ".torn"), "ab") as keep:
            keep.write(tail + b"\n")
            keep.flush()
            os.fsync(keep.fileno())
        os.ftruncate(fd, start)
        return b""

    def _upgrade(self, line: bytes) -> None:
        """Rewrite a headerless legacy log as header + its lines + `line`, atomically."""
        data = self._read_bytes()
        body, _, tail = data.rpartition(b"\n")
        body = body + b"\n" if body else b""
        if tail.strip():
            if self._try_parse(tail) is not None:
                body += tail + b"\n"
            else:
                with open(self.path.with_name(self.path.name + ".torn"), "ab") as keep:
                    keep.write(tail + b"\n")
        mode = stat.S_IMODE(self.path.stat().st_mode)
        write_atomic(self.path, self._header + body + line)
        os.chmod(self.path, mode)
        self.state = "log"

    @contextmanager
    def _lock(self) -> Iterator[None]:
        busy = LogError(
            f"log {self.path} stayed locked by another process for {self.lock_timeout:g} s"
        )
        lock = Path(str(self.path) + ".lock")
        with held_lock(lock, self.lock_timeout, busy=busy, what=f"log {self.path}"):
            yield

    # ------------------------------------------------------------------ checks

    def _check_path(self) -> None:
        """An existing regular file, or a new file in an existing, writable directory."""
        check_names(self.path, "log")
        if self.path.exists():
            mode = self.path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise PathError(f"log {self.path} is a directory; give a file name")
            if not stat.S_ISREG(mode):
                raise PathError(f"log {self.path} is not a regular file")
        elif self.path.is_symlink():
            raise PathError(f"log {self.path} is a dangling symbolic link")
        lock = Path(str(self.path) + ".lock")
        if lock.exists() and not lock.is_file():
            raise PathError(f"log {self.path}: its lock {lock} is not a regular file")
        check_writable_dir(Path(os.path.abspath(self.path.parent)), f"log {self.path}: directory")

    def _inspect(self) -> State:
        """What the file is now, from its first line (every line for a legacy file)."""
        if not self.path.exists():
            return "new"
        with open(self.path, "rb") as fh:
            first = fh.readline(_HEADER_PROBE_BYTES)
            blank = not first.strip() and not fh.read(_HEADER_PROBE_BYTES).strip()
        if blank or (not first.endswith(b"\n") and self._header.startswith(first)):
            return "new"  # empty, or a header torn by a crash while the log was created
        try:
            head = json.loads(first)
        except (UnicodeDecodeError, json.JSONDecodeError):
            head = None
        if isinstance(head, dict) and HEADER_KEY in head:
            self._check_header(head)
            return "log"
        if self.legacy and self._is_legacy(first):
            return "legacy"
        raise LogFormatError(
            f"{self.path} is not an aar log of kind {self.kind!r} (no aar log header on its "
            "first line); it was left untouched: use a new file"
        )

    def _check_header(self, head: dict[str, object]) -> None:
        if head[HEADER_KEY] != self.kind:
            raise LogFormatError(
                f"{self.path} is an aar log of kind {head[HEADER_KEY]!r}, not {self.kind!r}; "
                "it was left untouched: use a new file"
            )
        if head.get("version") != self.version:
            raise LogFormatError(
                f"{self.path} is an aar log of kind {self.kind!r} in format version "
                f"{head.get('version')!r}; this aar reads version {self.version}"
            )

    def _is_legacy(self, first: bytes) -> bool:
        """A headerless file whose first line is a record: a log from before headers existed.

        The other lines are checked when the log is read (a damaged one is named there).
        """
        return self._try_parse(first) is not None

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise PathError(f"cannot read log {self.path}: {exc.strerror}") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _last_line_start(fd: int, size: int) -> int:
    """Offset just after the last newline before `size` (0 if there is none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - 4096)
        chunk = os.pread(fd, pos - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0
