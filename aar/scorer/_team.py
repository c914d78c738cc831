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
from aar.scorer._store import Charge, LedgerEntry, LedgerStore, ScorerLockError


class TeamLedgerStore(LedgerStore):
    """The ledger as a service uses it: an in-process lock in front of the file lock (so the
    service's threads queue on a fast lock rather than poll the file lock), and the team's
    total checked at the charge, under both."""

    def __init__(self, base: LedgerStore, budgets: TeamBudget | None) -> None:
        super().__init__(base.dir, lock_timeout=base.lock_timeout, fsync=base.fsync)
        self.budgets = budgets
        self._thread_lock = threading.Lock()
        self._counted: dict[str, tuple[int, int, list[Charge]]] = {}
        """account -> (its charges counted, how many were of test entries, charges of
        records not in their pool yet), valid while `generation` is `_counted_generation`."""
        self._counted_generation = -1

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
        """The team's charged test submissions (call under `locked`): each member's charges
        whose record is a test entry of its pool, counted once per charge and cached, so a
        check costs the members and the new charges, not the whole charge log."""
        members = self.members()
        for _ in range(3):
            generation = self.generation
            if self._counted_generation != generation:  # another process rewrote a log
                self._counted.clear()
                self._counted_generation = generation
            used = sum(self._account_test_charges(account) for account in members)
            if self.generation == generation:  # no log was re-read while counting
                return used
        self._counted.clear()
        return sum(self._account_test_charges(account) for account in members)

    def _account_test_charges(self, account: str) -> int:
        """An account's charges of test entries. A charge of a record its pool holds is
        settled for good (the logs are append-only); one of a record the pool does not hold
        (yet) is looked at again next time, as a count from scratch would."""
        charges = self.account_charges(account)
        seen, count, open_ = self._counted.get(account, (0, 0, []))
        pending = []
        for charge in [*open_, *charges[seen:]]:
            pool = self.pool(charge.task)
            if charge.record_id in pool.test_ids:
                count += 1
            elif charge.record_id not in pool.ids:
                pending.append(charge)
        self._counted[account] = (len(charges), count, pending)
        return count

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
