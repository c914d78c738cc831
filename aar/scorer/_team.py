"""The ledger as the scorer service uses it: the team's total checked at the charge.

The team's accounts are listed in `<ledger>/teams/<team>.accounts` (one per line, appended
under the ledger's lock before the account's first charge), so the team's count of charged
test submissions is read from the ledger and survives a restart of the service.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aar.bench import BudgetExceededError
from aar.scorer._models import TeamBudget
from aar.scorer._store import LedgerEntry, LedgerStore, ScorerLockError


class TeamLedgerStore(LedgerStore):
    """The ledger as a service uses it: an in-process lock in front of the file lock (so the
    service's threads queue on a fast lock rather than poll the file lock), and the team's
    total checked at the charge, under both."""

    def __init__(self, base: LedgerStore, budgets: TeamBudget | None) -> None:
        super().__init__(base.dir, lock_timeout=base.lock_timeout, fsync=base.fsync)
        self.budgets = budgets
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=self.lock_timeout):
            raise ScorerLockError(f"the scorer service's ledger {self.dir} stayed busy")
        try:
            with super().locked():
                yield
        finally:
            self._thread_lock.release()

    def _members_file(self) -> Path:
        assert self.budgets is not None
        return self.dir / "teams" / f"{self.budgets.team}.accounts"

    def members(self) -> set[str]:
        """Accounts that ever scored a test split through a service of this team."""
        try:
            return set(self._members_file().read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return set()

    def team_used(self) -> int:
        """The team's charged test submissions (call under `locked`)."""
        members = self.members()
        tasks: dict[str, set[str]] = {}
        used = 0
        for charge in self._read(self._accounts()):
            if charge.account not in members:
                continue
            if charge.task not in tasks:
                entries = self.entries(charge.task)
                tasks[charge.task] = {e.record.id for e in entries if e.record.split == "test"}
            used += charge.record_id in tasks[charge.task]
        return used

    def append(self, entry: LedgerEntry, *, charge: bool) -> None:
        """Refuse a charge past the team's total; record a new member before its charge."""
        budgets = self.budgets
        if budgets is not None and charge and entry.record.split == "test":
            total = budgets.total_evals
            if total is not None and self.team_used() >= total:
                raise BudgetExceededError(
                    f"the team's evaluation budget of {total} scored submissions is used up"
                )
            if entry.account not in self.members():
                self._add_member(entry.account)
        super().append(entry, charge=charge)

    def _add_member(self, account: str) -> None:
        path = self._members_file()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(account.replace("\n", " ") + "\n")
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
