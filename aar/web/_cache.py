"""Caches keyed by what is on disk, so a page costs stat() calls, not re-reading every log.

Every value is cached with the stat stamp (size, mtime, ctime, inode) of the files it was
read from and recomputed when any stamp changes; ctime moves on every write, so an edit that
restores the size and the mtime is still seen. The audit log's verified records are extended
in place when the log only grew: the bytes already verified must hash as before, and the new
lines go to `AuditLog.verify_appended`, which checks them as a full verification does (the
chain rules live in `aar.review` only). Anything else (an edit, a truncation, a torn tail, a
new key) falls back to the full verification. These caches only decide what a page shows:
deciding and the gate always verify the whole chain themselves, under the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from aar.review import (
    AUDIT_HEAD,
    AUDIT_LOG,
    AuditIntegrityError,
    AuditLog,
    AuditRecord,
    ReviewKeyError,
    VerifyReport,
    review_key_file,
)

T = TypeVar("T")
Stamp = tuple[int, int, int, int] | None


def stamp(path: Path) -> Stamp:
    """What changes whenever the file does (None: it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class StampCache(Generic[T]):
    """`get(key, paths, load)`: `load()` again only when a stamp of `paths` changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Any, tuple[tuple[Stamp, ...], T]] = {}

    def get(self, key: Any, paths: list[Path], load: Callable[[], T]) -> T:
        stamps = tuple(stamp(p) for p in paths)
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and hit[0] == stamps:
            return hit[1]
        value = load()
        with self._lock:
            self._values[key] = (stamps, value)
        return value


@dataclass
class _Verified:
    size: int
    digest: str
    records: list[AuditRecord]
    key_stamp: Stamp


@dataclass
class AuditView:
    """The audit log as pages show it: the verified records, or why there are none."""

    records: list[AuditRecord]
    problem: str | None = None
    by_item: dict[str, list[AuditRecord]] = field(default_factory=dict)

    def about(self, item_id: str) -> list[AuditRecord]:
        """Every record (recorded and refused) about one item, oldest first."""
        return self.by_item.get(item_id, [])


def _index(records: list[AuditRecord]) -> dict[str, list[AuditRecord]]:
    out: dict[str, list[AuditRecord]] = {}
    for record in records:
        out.setdefault(record.decision.item_id, []).append(record)
    return out


class AuditCache:
    """The verified records of one runs directory's audit log (see the module doc)."""

    def __init__(self, runs_dir: Path, key_file: Path | None = None) -> None:
        self.runs_dir = runs_dir
        self.key_file = key_file
        self._lock = threading.Lock()
        self._verified: _Verified | None = None
        self._stamps: tuple[Stamp, ...] | None = None
        self._view = AuditView([])
        self._torn = False
        self._reports = StampCache[VerifyReport]()

    def _key_path(self) -> Path:
        return self.key_file or review_key_file()

    def _paths(self) -> list[Path]:
        return [self.runs_dir / AUDIT_LOG, self.runs_dir / AUDIT_HEAD, self._key_path()]

    def view(self) -> AuditView:
        """The records, verified; a log that fails verification shows its problem instead."""
        with self._lock:
            stamps = tuple(stamp(p) for p in self._paths())
            if self._verified is not None and stamps == self._stamps:
                return self._view
            try:
                records = self._extend() or self._full()
            except (AuditIntegrityError, ReviewKeyError) as exc:
                self._verified, self._stamps = None, None
                return AuditView([], str(exc))
            self._stamps = stamps
            self._view = AuditView(records, None, _index(records))
            return self._view

    def verify(self) -> VerifyReport:
        """What `aar review verify` reports: from the verified view when the chain holds (the
        same checks, the old part skipped by its hash), else the full check's problem."""
        view = self.view()
        if view.problem is None:
            path = str(self.runs_dir / AUDIT_LOG)
            return VerifyReport(ok=True, path=path, records=len(view.records), torn_tail=self._torn)
        return self._reports.get(
            "verify",
            self._paths(),
            lambda: AuditLog(self.runs_dir, key_file=self.key_file).verify(),
        )

    def _read(self) -> bytes:
        try:
            return (self.runs_dir / AUDIT_LOG).read_bytes()
        except FileNotFoundError:
            return b""

    def _full(self) -> list[AuditRecord]:
        data = self._read()
        records = AuditLog(self.runs_dir, key_file=self.key_file).records()
        self._torn = bool(data) and not data.endswith(b"\n")
        lines = [line for line in data.split(b"\n")[1:] if line.strip()]
        same = len(lines) == len(records) and data.endswith(b"\n")
        if same and records:
            same = json.loads(lines[-1]).get("mac") == records[-1].mac
        self._verified = (
            _Verified(len(data), _sha(data), records, stamp(self._key_path())) if same else None
        )
        return records

    def _extend(self) -> list[AuditRecord] | None:
        """The cached records plus the lines appended since, or None to verify in full."""
        old = self._verified
        if old is None or not old.records or stamp(self._key_path()) != old.key_stamp:
            return None
        data = self._read()
        if len(data) < old.size or not data.endswith(b"\n") or _sha(data[: old.size]) != old.digest:
            return None
        records = AuditLog(self.runs_dir, key_file=self.key_file).verify_appended(
            old.records, data[old.size :]
        )
        if records is None:
            return None
        self._torn = False
        self._verified = _Verified(len(data), _sha(data), records, old.key_stamp)
        return records


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
