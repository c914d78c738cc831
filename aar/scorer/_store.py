"""The installation's evaluation ledger on disk: one directory, one lock, append-only logs.

`<dir>/pools/<task>.jsonl` holds every scored submission of a task pool (all seeds, splits,
sessions and processes) with its hardened predictions and exact accuracy, which never leave
the scorer; `<dir>/accounts.jsonl` holds what each account was charged. A decision reads
the state and appends its entry under one file lock (`<dir>/scorer.lock`), so concurrent
processes never overshoot a budget and never both get a fresh answer the ledger would
have refused one of them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, PrivateAttr

from aar.bench import EvalRecord
from aar.errors import AarError, PathError
from aar.files import held_lock
from aar.jsonl import JsonlLog

POOL_KIND = "scorer-pool"
ACCOUNT_KIND = "scorer-accounts"


class ScorerLockError(AarError):
    """The ledger stayed locked by another process for longer than `scorer.lock_timeout`."""


class LedgerEntry(BaseModel):
    """One scored submission as the scorer keeps it (never shown as it is)."""

    record: EvalRecord
    account: str
    request_id: str | None = None
    hard: str
    exact_acc: float
    informative: bool
    _hard: np.ndarray | None = PrivateAttr(default=None)

    def hard_array(self) -> np.ndarray:
        if self._hard is None:
            self._hard = np.frombuffer(base64.b64decode(self.hard), dtype=np.uint8)
        return self._hard


class Charge(BaseModel):
    account: str
    record_id: str
    task: str


def _pool_file(task: str) -> str:
    if re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,80}", task):
        return f"{task}.jsonl"
    return "task-" + hashlib.sha256(task.encode()).hexdigest()[:24] + ".jsonl"


class LedgerStore:
    """The files of one scorer directory (created on first use, mode 0700)."""

    def __init__(
        self, directory: str | os.PathLike[str], *, lock_timeout: float = 60.0, fsync: bool = True
    ) -> None:
        self.dir = Path(directory).expanduser()
        self.lock_timeout = lock_timeout
        self.fsync = fsync
        self._ready = False
        self._cache: dict[Path, tuple[tuple[int, int] | None, list[Any]]] = {}
        self._logs: dict[Path, JsonlLog[Any]] = {}

    def _prepare(self) -> None:
        if self._ready:
            return
        try:
            (self.dir / "pools").mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise PathError(
                f"cannot create the scorer's ledger {self.dir}: {exc.strerror}"
            ) from None
        if not (self.dir / "pools").is_dir():
            raise PathError(f"the scorer's ledger {self.dir} is not a directory")
        self._ready = True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the ledger's lock (one decision at a time, installation-wide)."""
        self._prepare()
        busy = ScorerLockError(
            f"the scorer's ledger {self.dir} stayed locked for {self.lock_timeout:g} s"
        )
        what = f"the scorer's ledger {self.dir}"
        with held_lock(self.dir / "scorer.lock", self.lock_timeout, busy=busy, what=what):
            yield

    def _pool(self, task: str) -> JsonlLog[LedgerEntry]:
        return self._log(self.dir / "pools" / _pool_file(task), POOL_KIND, LedgerEntry)

    def _accounts(self) -> JsonlLog[Charge]:
        return self._log(self.dir / "accounts.jsonl", ACCOUNT_KIND, Charge)

    def _log(self, path: Path, kind: str, model: type[Any]) -> JsonlLog[Any]:
        """Opened (path and header checked) once per store."""
        self._prepare()
        if path not in self._logs:
            self._logs[path] = JsonlLog(path, kind, model, fsync=self.fsync)
        return self._logs[path]

    def entries(self, task: str) -> list[LedgerEntry]:
        """Every scored submission of a task pool (call under `locked` to decide on it)."""
        return list(self._read(self._pool(task)))

    def account_used(self, account: str) -> int:
        return sum(1 for c in self._read(self._accounts()) if c.account == account)

    def charged(self, account: str) -> set[str]:
        """Ids of the records an account paid for."""
        return {c.record_id for c in self._read(self._accounts()) if c.account == account}

    def _read(self, log: JsonlLog[Any]) -> list[Any]:
        """A log's records, parsed again only when another writer changed the file (its
        size and mtime differ from what this process last read or wrote)."""
        stamp = _stamp(log.path)
        cached = self._cache.get(log.path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, log.read())
            self._cache[log.path] = cached
        return cached[1]

    def _append(self, log: JsonlLog[Any], record: BaseModel) -> None:
        records = self._read(log)
        log.append(record)
        self._cache[log.path] = (_stamp(log.path), [*records, record])

    def append(self, entry: LedgerEntry, *, charge: bool) -> None:
        """The pool entry first: a crash between the two leaves an uncharged answer (fail
        closed on information: the pool counts it), never a charge with no answer."""
        self._append(self._pool(entry.record.task), entry)
        if charge:
            charge_line = Charge(
                account=entry.account, record_id=entry.record.id, task=entry.record.task
            )
            self._append(self._accounts(), charge_line)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)
