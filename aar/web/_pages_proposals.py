"""The proposal pages (GET): what a reviewer judges first, and the exact code a proposal runs.

Split from `_pages` so each module stays readable; the URLs are the same (`/proposals/ID`,
`/proposals/ID/code`), and the item status shown is the one the audit log gives.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aar.session import proposal_digest
from aar.web._app import Web
from aar.web._edits import edited_from, replaced_by
from aar.web._highlight import code_diff, highlight_lines
from aar.web._pages import next_step
from aar.web._runs import SessionView
from aar.web._text import diff_lines, hidden_count

router = APIRouter()


def _web(request: Request) -> Web:
    return request.app.state.web


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
def proposal(request: Request, proposal_id: str, decided: str | None = None) -> Response:
    """What a reviewer judges first (parameter changes, rationale, estimates, the findings it
    rests on) beside the decide form; the code diff folded; the exact code one click away."""
    web = _web(request)
    viewer = web.viewer(request)
    p = web.runs.proposal(proposal_id).proposal
    assert p is not None
    snap = web.runs.snapshot(p.session_id)
    view, audit = snap.sessions[0], snap.audit
    history = audit.about(p.id)
    original_id = edited_from(p, audit.about)
    item = web.runs.item_of(view, p.id)
    cells = _followed_cells(view, p.follows)
    return web.page(
        request,
        "proposal.html",
        viewer,
        p=p,
        item=item,
        history=history,
        hidden=hidden_count(p.code) + hidden_count(p.rationale),
        digest=proposal_digest(view.state, p, cells),
        follows=_follows_diff(web, p),
        original_id=original_id,
        original_diff=_original_diff(web, original_id, p.code),
        replaced_by=replaced_by(history),
        decided=decided if decided in ("approve", "reject", "edited") else None,
        next_step=next_step(web, view) if item.status != "pending" else None,
        lines=p.code.count("\n") + 1,
        audit=audit,
    )


@router.get("/proposals/{proposal_id}/code", response_class=HTMLResponse)
def proposal_code(request: Request, proposal_id: str) -> Response:
    """The exact code a proposal runs, highlighted and whole (what its sha256 binds), with
    the reviewer's "approve with edits" form."""
    web = _web(request)
    viewer = web.viewer(request)
    p = web.runs.proposal(proposal_id).proposal
    assert p is not None
    snap = web.runs.snapshot(p.session_id)
    return web.page(
        request,
        "proposal_code.html",
        viewer,
        p=p,
        item=web.runs.item_of(snap.sessions[0], p.id),
        code=highlight_lines(p.code),
        hidden=hidden_count(p.code),
        follows=_follows_diff(web, p),
        audit=snap.audit,
    )


def _followed_cells(view: SessionView, follows: str | None) -> list[str] | None:
    state = view.state
    exp = state.experiments.get(follows) if state is not None and follows else None
    return exp.cells if exp is not None else None


def _follows_diff(web: Web, p: Any) -> dict[str, Any] | None:
    if not p.follows:
        return None
    path = web.config.runs_dir / p.session_id / "experiments" / p.follows / "cells.py"
    if path.is_symlink() or not path.is_file():
        return {"id": p.follows, "diff": None, "missing": True}
    old = path.read_text(encoding="utf-8", errors="replace")
    diff = code_diff(old, p.code, f"{p.follows}/cells.py", p.id)
    return {"id": p.follows, "diff": diff, "missing": False}


def _original_diff(web: Web, original_id: str | None, code: str) -> Any:
    if original_id is None:
        return None
    original = web.runs.proposal(original_id).proposal
    assert original is not None
    return diff_lines(original.code, code, original_id, "edited")
