"""The review gate's errors: each is one line saying what was refused and why."""

from __future__ import annotations

from aar.errors import AarError


class ReviewError(AarError):
    """Base of the review errors (bad input: exit 2 unless a subclass says otherwise)."""


class ItemNotFoundError(ReviewError):
    """No proposal or finding has this id (or the id cannot be one)."""


class ProposalFileError(ReviewError):
    """A proposal file is damaged, tampered with, or in the wrong place."""


class ReviewKeyError(ReviewError):
    """The review key file cannot be read or created, or it is damaged."""


class AuditIntegrityError(ReviewError):
    """The audit log fails verification: nothing in it is trusted and nothing is appended."""

    exit_code = 1


class AuditBusyError(ReviewError):
    """Another process held the audit log's writer lock for too long."""

    exit_code = 1


class AlreadyDecidedError(ReviewError):
    """The item already has a decision; the first one wins (the attempt is audited)."""

    exit_code = 1


class ProposalExpiredError(ReviewError):
    """The proposal expired undecided; an automatic rejection was recorded."""

    exit_code = 1


class MemorySyncError(ReviewError):
    """A finding's decision is audited but the findings memory did not take it."""

    exit_code = 1


class GateError(ReviewError):
    """The gate refuses to run a follow-up: no valid approval binds this exact code."""

    exit_code = 1


class ProposalTamperedError(ProposalFileError):
    """The proposal file no longer hashes to what its session logged when it was proposed (or
    no log records it); every decision on it is refused and audited, and it never runs."""

    exit_code = 1


class HashMismatchError(ReviewError):
    """The sha256 the reviewer read (`--sha256`, the web form's) is not the item's: nothing
    was recorded."""

    exit_code = 1
