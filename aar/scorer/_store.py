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


class HardRows:
    """The hardened predictions of one (task, seed, test split) and row count, as one matrix
    grown in place, so the nearest earlier submission is one vectorised comparison."""

    def __init__(self, n: int) -> None:
        self.rows = np.empty((8, n), dtype=np.uint8)
        self.ids: list[str] = []

    def add(self, hard: np.ndarray, record_id: str) -> None:
        count = len(self.ids)
        if count == len(self.rows):
            grown = np.empty((2 * count, self.rows.shape[1]), dtype=np.uint8)
            grown[:count] = self.rows
            self.rows = grown
        self.rows[count] = hard
        self.ids.append(record_id)

    def nearest(self, hard: np.ndarray) -> tuple[int, str] | None:
        """(rows that differ, record id) of the first earlier submission nearest to `hard`."""
        if not self.ids:
            return None
        distances = np.count_nonzero(self.rows[: len(self.ids)] != hard, axis=1)
        i = int(np.argmin(distances))  # the first of equals, as a scan in ledger order
        return int(distances[i]), self.ids[i]


class SeedIndex:
    """The test entries of one seed of a pool: what a decision on that split reads."""

    def __init__(self) -> None:
        self.records: dict[str, EvalRecord] = {}
        self.best_shown: float | None = None
        """The highest exact accuracy among informative entries (None: none shown)."""
        self.hards: dict[int, HardRows] = {}

    def add(self, entry: LedgerEntry) -> None:
        self.records.setdefault(entry.record.id, entry.record)
        if entry.informative and (self.best_shown is None or entry.exact_acc > self.best_shown):
            self.best_shown = entry.exact_acc  # as max() over the shown accuracies in order
        hard = entry.hard_array()
        if len(hard) not in self.hards:
            self.hards[len(hard)] = HardRows(len(hard))
        self.hards[len(hard)].add(hard, entry.record.id)

    def nearest(self, hard: np.ndarray) -> tuple[int, str] | None:
        """The first nearest earlier entry with as many rows as `hard` (others never are)."""
        rows = self.hards.get(len(hard))
        return None if rows is None else rows.nearest(hard)


class PoolIndex:
    """A task pool's entries in ledger order and what each decision reads of them, kept
    up to date entry by entry (so a decision costs the same at 0 and at 5000 entries)."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self.used = 0
        """Informative answers the pool has given (every seed and split)."""
        self.requests: dict[tuple[str, str], LedgerEntry] = {}
        """(account, request id) -> the first entry that answered it."""
        self.test_ids: set[str] = set()
        self.ids: set[str] = set()
        self.seeds: dict[int, SeedIndex] = {}

    def add(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)
        self.used += entry.informative
        if entry.request_id is not None:
            self.requests.setdefault((entry.account, entry.request_id), entry)
        self.ids.add(entry.record.id)
        if entry.record.split == "test":
            self.test_ids.add(entry.record.id)
            self.seeds.setdefault(entry.record.seed, SeedIndex()).add(entry)


class ChargeIndex:
    """The charges in ledger order, by account."""

    def __init__(self) -> None:
        self.by_account: dict[str, list[Charge]] = {}

    def add(self, charge: Charge) -> None:
        self.by_account.setdefault(charge.account, []).append(charge)


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
        self._cache: dict[Path, tuple[Stamp | None, PoolIndex | ChargeIndex]] = {}
        self.generation = 0
        """Full re-reads of a log so far (another process wrote it, or first use)."""
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
        """Every scored submission of a task pool, as a copy (a decision reads `pool`)."""
        return list(self.pool(task).entries)

    def pool(self, task: str) -> PoolIndex:
        """A task pool's entries and the indexes a decision reads (call under `locked`; do
        not modify it: it is this store's cache, kept up to date by `append`)."""
        index = self._view(self._pool(task))
        assert isinstance(index, PoolIndex)
        return index

    def _charges(self) -> ChargeIndex:
        index = self._view(self._accounts())
        assert isinstance(index, ChargeIndex)
        return index

    def account_used(self, account: str) -> int:
        return len(self._charges().by_account.get(account, ()))

    def account_charges(self, account: str) -> list[Charge]:
        """An account's charges in ledger order (the store's list: do not modify it)."""
        return self._charges().by_account.get(account, [])

    def charged(self, account: str) -> set[str]:
        """Ids of the records an account paid for."""
        return {c.record_id for c in self.account_charges(account)}

    def _view(self, log: JsonlLog[Any]) -> PoolIndex | ChargeIndex:
        """A log's records and indexes, parsed again only when another writer changed the
        file (its size, mtime or inode differ from what this process last read or wrote);
        each such re-read bumps `generation`, so caches derived from several logs can tell."""
        stamp = _stamp(log.path)
        cached = self._cache.get(log.path)
        if cached is None or cached[0] != stamp:
            index: PoolIndex | ChargeIndex = ChargeIndex() if log.model is Charge else PoolIndex()
            for record in log.read():
                index.add(record)
            cached = (stamp, index)
            self._cache[log.path] = cached
            self.generation += 1
        return cached[1]

    def _append(self, log: JsonlLog[Any], record: BaseModel) -> None:
        index = self._view(log)
        log.append(record)
        index.add(record)  # type: ignore[arg-type]
        self._cache[log.path] = (_stamp(log.path), index)

    def append(self, entry: LedgerEntry, *, charge: bool) -> None:
        """The pool entry first: a crash between the two leaves an uncharged answer (fail
        closed on information: the pool counts it), never a charge with no answer."""
        self._append(self._pool(entry.record.task), entry)
        if charge:
            charge_line = Charge(
                account=entry.account, record_id=entry.record.id, task=entry.record.task
            )
            self._append(self._accounts(), charge_line)


Stamp = tuple[int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
