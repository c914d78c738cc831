"""What the pages read: sessions, proposals, findings and their review status, from disk.

Everything is read through stamp caches (`_cache.py`), so a page with 100 sessions costs a few
hundred stat() calls once warm, and a session's review items are derived again only when its
log, one of its proposal files or the audit log changed. The web layer never writes a
session's log or the audit log itself: decisions go through `aar.review`, and the only file it
adds to a session is the new proposal of an approve-with-edits (`_edits.py`).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aar.errors import AarError
from aar.memory import Finding
from aar.review import (
    PROPOSALS_DIR,
    AuditRecord,
    ItemNotFoundError,
    Proposal,
    ProposalFileError,
    ReviewItem,
    expire_overdue,
    finding_item,
    is_proposal_id,
    proposal_item,
    proposal_log,
    read_proposal,
)
from aar.session import EventLog, SessionState
from aar.web._cache import AuditCache, AuditView, StampCache

SESSION_ID = re.compile(r"^s-[A-Za-z0-9][A-Za-z0-9._-]{0,126}$")
PROPOSAL_FILE = re.compile(r"^p-[0-9a-f]{12}\.json$")
EVENTS = "events.jsonl"


class NotFound(AarError):
    """No such session, round, record or file (a 404 page)."""


@dataclass
class ProposalView:
    """A proposal file: the proposal, or why it cannot be trusted (damaged, copied)."""

    path: Path
    proposal: Proposal | None
    error: str | None = None

    @property
    def id(self) -> str:
        return self.path.stem


@dataclass
class SessionView:
    """One session as the pages show it; `error` when its log cannot be read. `items` are its
    proposals (oldest first) and findings with their status in the audit log."""

    id: str
    root: Path
    state: SessionState | None
    error: str | None = None
    proposals: list[ProposalView] = field(default_factory=list)
    items: list[ReviewItem] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(i.status == "pending" for i in self.items)

    def of_kind(self, kind: str, round: int | None = None) -> list[ReviewItem]:
        return [i for i in self.items if i.kind == kind and (round is None or i.round == round)]


@dataclass
class Snapshot:
    """The verified audit log and the sessions a page shows, read once per request."""

    audit: AuditView
    sessions: list[SessionView]

    def queue(self) -> list[ReviewItem]:
        """Every pending proposal and finding, oldest first."""
        items = [i for v in self.sessions for i in v.items if i.status == "pending"]
        return sorted(items, key=lambda i: i.created_at)


class RunsView:
    """The runs directory as pages see it (one per app; thread-safe caches)."""

    def __init__(self, runs_dir: Path, key_file: Path | None = None) -> None:
        self.runs_dir = runs_dir
        self.key_file = key_file
        self.audit_cache = AuditCache(runs_dir, key_file)
        self._states = StampCache[SessionView]()
        self._proposals = StampCache[ProposalView]()
        self._items: dict[str, tuple[tuple[object, ...], list[ReviewItem]]] = {}
        self._items_lock = threading.Lock()
        self.reports = StampCache[str]()
        """Rendered round reports, by round directory."""

    # -- a request's view ----------------------------------------------------------------
    def snapshot(self, session_id: str | None = None) -> Snapshot:
        """The audit log and every session (or one), after recording the automatic rejection
        of any proposal among them that expired undecided."""
        ids = self.session_ids() if session_id is None else [self.check_session(session_id)]
        audit = self.audit_cache.view()
        views = [self._session(sid) for sid in ids]
        if self._expire(views, audit):
            audit = self.audit_cache.view()
        return Snapshot(audit, [self._with_items(v, audit) for v in views])

    def session_ids(self) -> list[str]:
        """Every session directory (newest first: ids start with their creation time)."""
        try:
            with os.scandir(self.runs_dir) as entries:
                names = [e.name for e in entries if SESSION_ID.match(e.name) and e.is_dir()]
        except OSError:
            return []
        return sorted((n for n in names if (self.runs_dir / n / EVENTS).is_file()), reverse=True)

    def session(self, session_id: str) -> SessionView:
        """One session with its review items (a NotFound for an unknown id)."""
        return self.snapshot(session_id).sessions[0]

    def check_session(self, session_id: str) -> str:
        """`session_id`, if it names a session of this runs directory (else NotFound)."""
        if not SESSION_ID.match(session_id) or not (self.runs_dir / session_id / EVENTS).is_file():
            raise NotFound(f"no session {session_id!r} under {self.runs_dir}")
        return session_id

    def _session(self, session_id: str) -> SessionView:
        root = self.runs_dir / session_id
        view = self._states.get(session_id, [root / EVENTS], lambda: _load_session(root))
        return SessionView(view.id, root, view.state, view.error, self._session_proposals(root))

    def _session_proposals(self, root: Path) -> list[ProposalView]:
        try:
            with os.scandir(root / PROPOSALS_DIR) as entries:
                names = sorted(e.name for e in entries if PROPOSAL_FILE.match(e.name))
        except OSError:
            return []
        paths = [root / PROPOSALS_DIR / name for name in names]
        views = [self._proposals.get(p, [p], partial(_load_proposal, p)) for p in paths]
        return sorted(views, key=_created)

    def _with_items(self, view: SessionView, audit: AuditView) -> SessionView:
        """The view with its items, derived again only when what they depend on changed: its
        log, a proposal file, or the newest audit record about one of its items (a verified
        record object is kept as long as the log only grows)."""
        now = datetime.now(UTC)
        ids = [pv.id for pv in view.proposals] + list(view.state.findings if view.state else [])
        latest = [_last(audit.about(i)) for i in ids]  # records are never replaced
        key = (now.replace(second=0, microsecond=0), view.state, *view.proposals, *latest)
        with self._items_lock:
            hit = self._items.get(view.id)
        if hit is not None and _same(hit[0], key):
            view.items = hit[1]
            return view
        log = proposal_log(view.root, audit.records, cached=True)  # what the session logged
        items = [
            proposal_item(pv.proposal, audit.about(pv.id), now, log=log)
            for pv in view.proposals
            if pv.proposal is not None
        ]
        if view.state is not None:
            items += [finding_item(f, audit.about(f.id)) for f in view.state.findings.values()]
        with self._items_lock:
            self._items[view.id] = (key, items)
        view.items = items
        return view

    def _expire(self, views: list[SessionView], audit: AuditView) -> int:
        """Record the automatic rejection of undecided proposals past their expiry (only when
        there is one: the common page load writes nothing and takes no lock)."""
        if audit.problem is not None:
            return 0
        now = datetime.now(UTC)
        overdue = sorted(
            {
                pv.proposal.session_id
                for view in views
                for pv in view.proposals
                if pv.proposal is not None
                and pv.proposal.expired(now)
                and not any(r.outcome == "recorded" for r in audit.about(pv.id))
            }
        )
        done = 0
        for session_id in overdue:
            try:
                done += len(expire_overdue(self.runs_dir, session_id, key_file=self.key_file))
            except AarError:
                continue  # shown by the page as it is; the next load tries again
        return done

    # -- proposals -----------------------------------------------------------------------
    def proposal(self, proposal_id: str) -> ProposalView:
        """The one proposal with this id; a damaged or copied file is a ProposalFileError."""
        if not is_proposal_id(proposal_id):
            raise ItemNotFoundError(f"{proposal_id!r} is not a proposal id (p- and 12 hex digits)")
        paths = [
            self.runs_dir / sid / PROPOSALS_DIR / f"{proposal_id}.json"
            for sid in self.session_ids()
        ]
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise ItemNotFoundError(f"no proposal {proposal_id} in any session")
        if len(paths) > 1:
            where = ", ".join(p.parent.parent.name for p in paths)
            raise ProposalFileError(
                f"proposal {proposal_id} appears in several sessions ({where}): a copied file?"
            )
        view = self._proposals.get(paths[0], [paths[0]], lambda: _load_proposal(paths[0]))
        if view.proposal is None:
            raise ProposalFileError(view.error or f"proposal {proposal_id} cannot be read")
        return view

    def item_of(self, view: SessionView, item_id: str) -> ReviewItem:
        return next(i for i in view.items if i.id == item_id)

    # -- findings as their sessions logged them ------------------------------------------
    def logged_finding(self, finding_id: str, session_id: str | None = None) -> Finding | None:
        """The finding as its session's log holds it (searching every session if needed)."""
        ids = [session_id] if session_id and SESSION_ID.match(session_id) else self.session_ids()
        for sid in ids:
            if (self.runs_dir / sid / EVENTS).is_file():
                state = self._session(sid).state
                if state is not None and finding_id in state.findings:
                    return state.findings[finding_id]
        return None

    def tasks(self) -> list[str]:
        """Every task some session studies (the memory page's suggestions)."""
        states = [self._session(sid).state for sid in self.session_ids()]
        return sorted({t for s in states if s is not None for t in s.config.tasks})


def _same(old: tuple[object, ...], new: tuple[object, ...]) -> bool:
    """The same minute (expiry) and the very same cached objects (state, proposals, records)."""
    if len(old) != len(new) or old[0] != new[0]:
        return False
    return all(a is b for a, b in zip(old[1:], new[1:], strict=True))


def _load_session(root: Path) -> SessionView:
    try:
        return SessionView(root.name, root, EventLog(root).state())
    except (AarError, ValueError, KeyError) as exc:
        return SessionView(root.name, root, None, f"its log cannot be read: {exc}")


def _load_proposal(path: Path) -> ProposalView:
    try:
        return ProposalView(path, read_proposal(path))
    except AarError as exc:
        return ProposalView(path, None, str(exc))


def _created(view: ProposalView) -> tuple[str, str]:
    p = view.proposal
    return (p.created_at.isoformat() if p else "", view.id)


def _last(records: list[AuditRecord]) -> AuditRecord | None:
    return records[-1] if records else None
