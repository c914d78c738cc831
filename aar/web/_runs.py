"""What the pages read: sessions, proposals, findings and their review status, from disk.

Everything is read through stamp caches (`_cache.py`), so a page with 100 sessions costs a few
hundred stat() calls once warm. The web layer never writes a session's log or the audit log
itself: decisions go through `aar.review`, and the only file it adds to a session is the new
proposal of an approve-with-edits (`_edits.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from aar.errors import AarError
from aar.review import (
    PROPOSALS_DIR,
    ItemNotFoundError,
    Proposal,
    ProposalFileError,
    ReviewItem,
    expire_overdue,
    finding_item,
    proposal_item,
    read_proposal,
)
from aar.session import EventLog, SessionState
from aar.web._cache import AuditCache, AuditView, StampCache

SESSION_ID = re.compile(r"^s-[A-Za-z0-9][A-Za-z0-9._-]{0,126}$")
EVENTS = "events.jsonl"


class NotFound(AarError):
    """No such session, round, record or file (a 404 page)."""


@dataclass
class SessionView:
    """One session as the pages show it; `error` when its log cannot be read."""

    id: str
    root: Path
    state: SessionState | None
    error: str | None = None
    proposals: list[ProposalView] = field(default_factory=list)

    def items(self, audit: AuditView) -> list[ReviewItem]:
        """The session's findings (from its log) with their status in the audit log."""
        if self.state is None:
            return []
        return [finding_item(f, audit.about(f.id)) for f in self.state.findings.values()]


@dataclass
class ProposalView:
    """A proposal file: the proposal, or why it cannot be trusted (damaged, copied)."""

    path: Path
    proposal: Proposal | None
    error: str | None = None

    @property
    def id(self) -> str:
        return self.path.stem


class RunsView:
    """The runs directory as pages see it (one per app; thread-safe caches)."""

    def __init__(self, runs_dir: Path, key_file: Path | None = None) -> None:
        self.runs_dir = runs_dir
        self.key_file = key_file
        self.audit_cache = AuditCache(runs_dir, key_file)
        self._states = StampCache[SessionView]()
        self._proposals = StampCache[ProposalView]()
        self.reports = StampCache[str]()
        """Rendered round reports, by round directory."""

    # -- sessions ------------------------------------------------------------------------
    def session_ids(self) -> list[str]:
        """Every session directory (newest first: ids start with their creation time)."""
        try:
            names = [p.name for p in self.runs_dir.iterdir() if SESSION_ID.match(p.name)]
        except OSError:
            return []
        return sorted((n for n in names if (self.runs_dir / n / EVENTS).is_file()), reverse=True)

    def session(self, session_id: str) -> SessionView:
        if not SESSION_ID.match(session_id) or not (self.runs_dir / session_id / EVENTS).is_file():
            raise NotFound(f"no session {session_id!r} under {self.runs_dir}")
        root = self.runs_dir / session_id
        view = self._states.get(session_id, [root / EVENTS], lambda: _load_session(root))
        return replace(view, proposals=self._session_proposals(root))

    def sessions(self) -> list[SessionView]:
        return [self.session(sid) for sid in self.session_ids()]

    def _session_proposals(self, root: Path) -> list[ProposalView]:
        try:
            paths = sorted((root / PROPOSALS_DIR).glob("p-*.json"))
        except OSError:
            return []
        views = [self._proposals.get(p, [p], lambda p=p: _load_proposal(p)) for p in paths]
        return sorted(views, key=_created)

    # -- proposals -----------------------------------------------------------------------
    def proposal(self, proposal_id: str) -> ProposalView:
        """The one proposal with this id; a damaged or copied file is a ProposalFileError."""
        if not re.fullmatch(r"p-[0-9a-f]{12}", proposal_id):
            raise ItemNotFoundError(f"{proposal_id!r} is not a proposal id (p- and 12 hex digits)")
        paths = sorted(self.runs_dir.glob(f"s-*/{PROPOSALS_DIR}/{proposal_id}.json"))
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

    def proposal_item(self, proposal: Proposal, audit: AuditView) -> ReviewItem:
        return proposal_item(proposal, audit.about(proposal.id))

    # -- review queue --------------------------------------------------------------------
    def queue(self, audit: AuditView) -> list[ReviewItem]:
        """Every pending proposal and finding across sessions, oldest first."""
        items: list[ReviewItem] = []
        now = datetime.now(UTC)
        for view in self.sessions():
            for pv in view.proposals:
                if pv.proposal is not None:
                    items.append(proposal_item(pv.proposal, audit.about(pv.id), now))
            items += view.items(audit)
        return sorted((i for i in items if i.status == "pending"), key=lambda i: i.created_at)

    def expire_overdue(self, audit: AuditView) -> int:
        """Record the automatic rejection of every undecided proposal past its expiry (only
        when there is one: the common page load writes nothing and takes no lock)."""
        if audit.problem is not None:
            return 0
        now = datetime.now(UTC)
        decided = {i for i, rs in audit.by_item.items() if any(r.outcome == "recorded" for r in rs)}
        overdue = {
            pv.proposal.session_id
            for view in self.sessions()
            for pv in view.proposals
            if pv.proposal is not None and pv.id not in decided and pv.proposal.expired(now)
        }
        done = 0
        for session_id in sorted(overdue):
            done += len(expire_overdue(self.runs_dir, session_id, key_file=self.key_file))
        return done


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
