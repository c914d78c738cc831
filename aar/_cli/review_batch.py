"""How `aar review approve|reject` decides several items at once: each id is its own audit
record, one item's refusal is a warning that leaves the others decidable, and on a terminal
every hash is shown before the one question that approves them.

`review.py` checks the inputs and prints the outcome; this module records the decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from aar._cli.output import warn
from aar._cli.review_views import report
from aar.errors import UsageError
from aar.text import shown as _visible

if TYPE_CHECKING:
    from aar.review import Decision, Verdict


def decide_each(
    runs: Path,
    item_ids: list[str],
    hashes: list[str | None],
    verdict: Verdict,
    reviewer: str,
    comment: str,
    store: Any,
    as_json: bool,
) -> list[Decision]:
    """The decisions recorded; a refused item is a warning (one id alone: its error)."""
    from aar import review

    refusals = item_refusals()
    decided = []
    for item_id, sha in zip(item_ids, hashes, strict=True):
        try:
            decision = review.decide(
                runs, item_id, verdict, reviewer, comment, expected_sha256=sha, store=store
            )
        except refusals as exc:
            if len(item_ids) == 1:
                raise
            warn(f"{item_id}: {exc}")
            continue
        decided.append(decision)
        if not as_json:
            report(decision)
    return decided


def item_refusals() -> tuple[type[Exception], ...]:
    """Refusals of one item that leave the others of a batch decidable (a broken audit log,
    key or lock stops the batch)."""
    from aar import review

    return (
        review.AlreadyDecidedError,
        review.ProposalExpiredError,
        review.HashMismatchError,
        review.ItemNotFoundError,
        review.ProposalFileError,
        review.MemorySyncError,
    )


def store_for(item_ids: list[str]) -> Any:
    """The findings memory, opened once, when any id is a finding's."""
    from aar import review

    if all(review.item_kind(i) == "proposal" for i in item_ids):
        return None
    return review.open_findings_store()


def confirm_hashes(runs: Path, item_ids: list[str], store: Any) -> list[str]:
    """Show each item's hash and status, ask once, and return the hashes agreed to."""
    from aar import review

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    hashes = []
    for item_id in item_ids:
        item, _, _ = review.show_item(runs, item_id, store=store)
        err.print(Text(f"{item.kind} {item.id} ({item.status}): {_visible(item.summary)}"))
        err.print(Text(f"sha256 {item.sha256}"))
        hashes.append(item.sha256)
    what = "this content" if len(hashes) == 1 else f"the content of these {len(hashes)} items"
    first = f" (sha256 {hashes[0][:16]}…)" if len(hashes) == 1 else ""
    if not typer.confirm(f"approve exactly {what}{first}?", err=True):
        err.print(Text("not approved: nothing was recorded"))
        raise typer.Exit(1)
    return hashes


def chosen_ids(
    item_ids: list[str] | None, session: str | None, round: int | None, runs: Callable[[], Path]
) -> list[str]:
    """The ids given, or every pending finding of `--session`'s round `--round` (`runs` is
    called only then, so the arguments are checked before the runs directory is read)."""
    from aar import review

    if item_ids and (session or round is not None):
        raise UsageError("give ids, or --session with --round, not both")
    if item_ids:
        return list(dict.fromkeys(item_ids))
    if session is None or round is None:
        raise UsageError("name what to decide: ID ..., or --session S --round N (its findings)")
    items = review.list_items(
        runs(), session_id=session, status="pending", store=review.open_findings_store()
    )
    found = [i.id for i in items if i.kind == "finding" and i.round == round]
    if not found:
        raise UsageError(f"no pending finding in round {round} of {session}")
    return found
