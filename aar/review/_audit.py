"""The audit log: every decision (and every refused attempt) in one hash-chained JSONL file.

`<runs_dir>/review-audit.jsonl` is an `aar.jsonl.JsonlLog` of `AuditRecord`s. Record n holds
its position `seq = n`, the MAC of record n-1 (`prev_mac`; 64 zeros for the first) and its own
`mac`, an HMAC-SHA256 under the installation's review key of the JSON of everything else in
the record. So an edited line fails its MAC, a line written by anyone without the key
fails its MAC (a plain sha256 chain too), and a removed, reordered or inserted line breaks the
sequence or the chain.

A chain cannot show that its last lines were cut off, so the newest record's position and MAC
are also kept, under the key, in `review-audit.head` (replaced atomically after each append).
A log shorter than its head was truncated; a log one record longer is what a crash between
the two writes leaves, and verifies. What the key cannot show: the whole log and its head put
back together as they were at an earlier time (keep backups or a copy elsewhere for that).

Every append happens under `review-audit.lock`, after the chain verified, so checking whether
an item is decided and recording the decision are one atomic step across processes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aar.errors import PathError
from aar.files import held_lock, write_atomic
from aar.jsonl import JsonlLog, LogCorruptError, LogError
from aar.review._errors import AuditBusyError, AuditIntegrityError, ReviewKeyError
from aar.review._key import review_key, review_key_file
from aar.review._models import SHA256, Decision, ItemKind

AUDIT_LOG = "review-audit.jsonl"
AUDIT_HEAD = "review-audit.head"
AUDIT_LOCK = "review-audit.lock"
AUDIT_KIND = "review-audit"
GENESIS = "0" * 64
_DOMAIN = b"aar-review-audit/1\n"
_HEAD_DOMAIN = b"aar-review-audit-head/1\n"

Outcome = Literal["recorded", "refused"]


class AuditRecord(BaseModel):
    """One line of the audit log: a decision that counts, or an attempt that was refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1, description="Position in the chain, from 1.")
    outcome: Outcome = Field(description="recorded: the decision counts; refused: it does not.")
    reason: str = Field(default="", max_length=2000, description="Why it was refused or made.")
    decision: Decision
    prev_mac: str = Field(pattern=SHA256)
    mac: str = Field(pattern=SHA256)


class _Head(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1)
    mac: str = Field(pattern=SHA256)
    head_mac: str = Field(pattern=SHA256)


class VerifyReport(BaseModel):
    """The result of checking the whole chain (what `aar review verify --json` prints)."""

    ok: bool
    path: str
    records: int = Field(description="Records that verified, before the first bad line.")
    bad_line: int | None = Field(default=None, description="The first bad line (1 = header).")
    problem: str | None = None
    torn_tail: bool = Field(default=False, description="A torn last line from a crash (ignored).")

    def message(self) -> str:
        """One line for people."""
        if self.ok:
            return f"audit log {self.path} verifies: {self.records} record(s)"
        where = f" at line {self.bad_line}" if self.bad_line is not None else ""
        return f"audit log {self.path} fails verification{where}: {self.problem}"


def record_mac(key: bytes, record: AuditRecord) -> str:
    """HMAC-SHA256 of the record's JSON without its `mac` (fields in model order: the
    serialisation is deterministic for a given format version)."""
    body = record.model_dump_json(exclude={"mac"}).encode()
    return hmac.new(key, _DOMAIN + body, hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, mac: str) -> str:
    """The MAC of the head file naming record `seq` with MAC `mac`."""
    return hmac.new(key, _HEAD_DOMAIN + f"{seq}:{mac}".encode(), hashlib.sha256).hexdigest()


class AuditLog:
    """The audit log of one runs directory (see the module doc).

    Args:
        runs_dir: the directory holding the sessions; it must exist.
        key_file: the review key (default `settings.review.key_file`).
        lock_timeout: seconds to wait for another process's decision.
    """

    def __init__(
        self, runs_dir: Path, *, key_file: Path | None = None, lock_timeout: float = 30.0
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / AUDIT_LOG
        self.head_path = self.runs_dir / AUDIT_HEAD
        self.key_file = key_file
        self.lock_timeout = lock_timeout

    def _log(self) -> JsonlLog[AuditRecord]:
        return JsonlLog(self.path, AUDIT_KIND, AuditRecord, lock_timeout=self.lock_timeout)

    # ------------------------------------------------------------------ verifying

    def verify(self) -> VerifyReport:
        """Recompute the whole chain and compare its end with the head."""
        return self._verify()[0]

    def records(self) -> list[AuditRecord]:
        """Every record, once the chain verified; otherwise an `AuditIntegrityError`.

        The records returned are the very ones checked (one read), so a line appended by
        hand between a check and a read is never trusted.
        """
        report, records = self._verify()
        if not report.ok:
            raise AuditIntegrityError(
                report.message() + "; nothing in it is trusted until it is restored "
                "(`aar review verify` shows the same)"
            )
        return records

    def verify_appended(
        self, verified: list[AuditRecord], appended: bytes
    ) -> list[AuditRecord] | None:
        """`verified` and the records on the `appended` lines, if `verify` would pass them:
        each new line the next link of the chain, and the head naming the log's end under the
        key. None where only a full `verify` can say what is wrong.

        For a reader that keeps the records it verified and the bytes they came from (the
        web pages' cache): only the new lines are checked, the same way `verify` checks every
        line (one rule, `_check_chain` and `_check_head`). Raises `ReviewKeyError` when the
        key cannot be read.
        """
        try:
            new = [
                AuditRecord.model_validate_json(line)
                for line in appended.split(b"\n")
                if line.strip()
            ]
        except ValidationError:
            return None
        records = [*verified, *new]
        key = review_key(self.key_file)
        if _check_chain(key, records, None, start=len(verified)) is not None:
            return None
        if _check_head(key, self._read_head(), records, None, self.head_path) is not None:
            return None
        return records

    def _verify(self) -> tuple[VerifyReport, list[AuditRecord]]:
        try:
            log = self._log()
            records = log.read()
        except LogCorruptError as exc:
            return self._report(0, self._first_unreadable_line(), str(exc)), []
        except LogError as exc:
            return self._report(0, 1, str(exc)), []
        torn = log.torn_tail is not None
        head = self._read_head()
        if not records and head is None:
            return self._report(0, None, None, torn), records
        try:
            key = review_key(self.key_file)
        except ReviewKeyError as exc:
            return self._report(0, None, str(exc), torn), []
        lines = self._line_numbers()
        bad = _check_chain(key, records, lines)
        if bad is not None:
            return self._report(bad[0], lines[bad[0]], bad[1], torn), []
        end = _check_head(key, head, records, lines, self.head_path)
        if end is not None:
            return self._report(end[0], end[1], end[2], torn), []
        return self._report(len(records), None, None, torn), records

    def _report(
        self, good: int, line: int | None, problem: str | None, torn: bool = False
    ) -> VerifyReport:
        return VerifyReport(
            ok=problem is None,
            path=str(self.path),
            records=good,
            bad_line=line,
            problem=problem,
            torn_tail=torn,
        )

    def _raw_lines(self) -> list[bytes]:
        try:
            return self.path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise PathError(f"cannot read {self.path}: {exc.strerror}") from None

    def _line_numbers(self) -> list[int]:
        """File line numbers of the record lines (after the header, blank lines skipped)."""
        return [n for n, line in enumerate(self._raw_lines(), 1) if n >= 2 and line.strip()]

    def _first_unreadable_line(self) -> int | None:
        raw = self._raw_lines()
        for n, line in enumerate(raw, 1):
            if n < 2 or not line.strip():
                continue
            try:
                AuditRecord.model_validate_json(line)
            except ValidationError:
                return n
        return None

    def _read_head(self) -> _Head | str | None:
        """The head, None if there is none, or why it cannot be read."""
        try:
            return _Head.model_validate_json(self.head_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError):
            return f"the head file {self.head_path} is unreadable or damaged"

    # ------------------------------------------------------------------ writing

    @contextmanager
    def transaction(self) -> Iterator[AuditTransaction]:
        """Hold the writer lock over a verified chain: read, decide, append, atomically.

        The chain is checked under the lock; before the lock file exists it is also checked
        first, so refusing a damaged log never writes even that file.
        """
        lock_path = self.runs_dir / AUDIT_LOCK
        if not lock_path.exists():
            self.records()
        busy = AuditBusyError(
            f"the audit log {self.path} stayed locked by another decision for "
            f"{self.lock_timeout:g} s; try again"
        )
        what = f"the audit log {self.path}"
        with held_lock(lock_path, self.lock_timeout, busy=busy, what=what):
            records = self.records()
            fresh = not records and not self.head_path.exists()
            key = review_key(self.key_file or review_key_file(), create=fresh)
            yield AuditTransaction(self, key, records)


class AuditTransaction:
    """What a decision sees while it holds the lock: the verified records, and `append`."""

    def __init__(self, log: AuditLog, key: bytes, records: list[AuditRecord]) -> None:
        self._log = log
        self._key = key
        self.records = records

    def recorded(self, kind: ItemKind, item_id: str) -> list[AuditRecord]:
        return recorded_for(self.records, kind, item_id)

    def append(self, decision: Decision, outcome: Outcome, reason: str = "") -> AuditRecord:
        """Chain one record after the last, write it, then move the head to it."""
        draft = AuditRecord(
            seq=len(self.records) + 1,
            outcome=outcome,
            reason=reason,
            decision=decision,
            prev_mac=self.records[-1].mac if self.records else GENESIS,
            mac=GENESIS,
        )
        record = draft.model_copy(update={"mac": record_mac(self._key, draft)})
        self._log._log().append(record)
        self.records.append(record)
        head = _Head(
            seq=record.seq, mac=record.mac, head_mac=head_mac(self._key, record.seq, record.mac)
        )
        write_atomic(self._log.head_path, head.model_dump_json() + "\n")
        return record


def recorded_for(records: list[AuditRecord], kind: ItemKind, item_id: str) -> list[AuditRecord]:
    """The records of decisions that count for one item, oldest first."""
    return [
        r
        for r in records
        if r.outcome == "recorded" and r.decision.item == kind and r.decision.item_id == item_id
    ]


def _check_chain(
    key: bytes, records: list[AuditRecord], lines: list[int] | None, start: int = 0
) -> tuple[int, str] | None:
    """(index, problem) of the first record from `start` on that breaks the chain, or None
    (`records[:start]` verified already; `lines` are their file lines, for the message)."""
    prev = records[start - 1].mac if start else GENESIS
    for i in range(start, len(records)):
        record = records[i]
        if not hmac.compare_digest(record.mac, record_mac(key, record)):
            return i, "its MAC does not match: the line was edited, or forged without the key"
        if record.seq != i + 1:
            return i, (
                f"it holds record {record.seq} where record {i + 1} belongs: lines were "
                "removed, reordered or inserted"
            )
        if record.prev_mac != prev:
            before = f"record {i}" if lines is None else f"line {lines[i - 1]}"
            before = before if i else "the start"
            return i, f"it does not chain to {before}: lines were removed, reordered or inserted"
        prev = record.mac
    return None


def _check_head(
    key: bytes,
    head: _Head | str | None,
    records: list[AuditRecord],
    lines: list[int] | None,
    head_path: Path,
) -> tuple[int, int | None, str] | None:
    """(good records, line, problem) if the log's end disagrees with its head, else None
    (`lines`: the records' file lines, for the report; None leaves the line out)."""
    end = None if lines is None else lines[len(records) - 1] + 1 if records else 2
    if isinstance(head, str):
        return len(records), None, head
    if head is None:
        return (
            len(records),
            None,
            (f"its head file {head_path} is missing, so removed last lines would go unnoticed"),
        )
    if not hmac.compare_digest(head.head_mac, head_mac(key, head.seq, head.mac)):
        return len(records), None, f"the head file {head_path} was edited (its MAC fails)"
    if head.seq > len(records):
        return (
            len(records),
            end,
            (
                f"the log ends after record {len(records)} but its head says {head.seq} were "
                "written: the last lines were removed"
            ),
        )
    if not hmac.compare_digest(records[head.seq - 1].mac, head.mac):
        line = None if lines is None else lines[head.seq - 1]
        return head.seq - 1, line, "it is not the record the head file names"
    return None
