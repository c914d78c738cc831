"""The pages (GET): sessions, a session, a round's report, a record, a finding, the audit log,
the leaderboard and the findings-memory search (a proposal's pages are in `_pages_proposals`).
Each reads through the app's caches and shows the review status the audit log gives (never a
status a page computed on its own)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aar.errors import AarError
from aar.hashing import cells_sha256, join_cells
from aar.memory import ReviewStatus, Verdict
from aar.review import ITEM_STATUSES, ItemNotFoundError, NextStep, finding_item, next_step_parts
from aar.web._app import PageError, Web
from aar.web._markdown import FIGURE_NAME, render_report
from aar.web._pages_more import record_by_prefix
from aar.web._runs import NotFound, SessionView, Snapshot

router = APIRouter()
AUDIT_PAGE = 100


def _web(request: Request) -> Web:
    return request.app.state.web


# -- sessions ----------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def sessions(
    request: Request,
    session: str = "",
    status: str = "pending",
    kind: Literal["", "proposal", "finding"] = "",
    batch: Literal["", "approve", "reject"] = "",
    done: Annotated[int, Query(ge=0, le=10_000)] = 0,
    refused: Annotated[list[str] | None, Query(max_length=200)] = None,
) -> Response:
    """The review queue (filtered by session, status and kind; checkboxes decide several at
    once) above the sessions table."""
    web = _web(request)
    viewer = web.viewer(request)
    snap = web.runs.snapshot()
    rows = [{"view": v, "budgets": _budgets(v) if v.state else []} for v in snap.sessions]
    wanted = status if status in ITEM_STATUSES else ""
    items = sorted(
        (
            i
            for v in snap.sessions
            for i in v.items
            if (not session or i.session_id == session)
            and (not wanted or i.status == wanted)
            and (not kind or i.kind == kind)
        ),
        key=lambda i: i.created_at,
    )
    return web.page(
        request,
        "sessions.html",
        viewer,
        rows=rows,
        queue=items,
        filters={"session": session, "status": wanted, "kind": kind},
        statuses=ITEM_STATUSES,
        session_ids=[v.id for v in snap.sessions],
        batch=_batch_banner(web, snap, batch, done, refused or []) if batch else None,
        audit=snap.audit,
    )


def _batch_banner(
    web: Web, snap: Snapshot, verdict: str, done: int, refused: list[str]
) -> dict[str, Any]:
    """What a batch decision did, and the next step of every session with a decided item
    (the sessions whose items are no longer pending and whose state awaits review)."""
    waiting = [
        v for v in snap.sessions if v.state is not None and v.state.state == "awaiting_review"
    ]
    lines = [next_step(web, v) for v in waiting]
    return {"verdict": verdict, "done": done, "refused": refused[:50], "next": lines}


def _budgets(view: SessionView) -> list[tuple[str, str, str]]:
    """(what, used, limit) for each budget the session enforces."""
    assert view.state is not None
    u, b = view.state.usage, view.state.config.budgets

    def limit(value: float | None, fmt: str = "{:g}") -> str:
        return "∞" if value is None else fmt.format(value)

    return [
        ("evaluations", str(u.evals), str(b.evals)),
        ("requests", str(u.requests), limit(b.requests)),
        ("tokens", f"{u.tokens:,}", limit(b.tokens, "{:,}")),
        ("USD", f"{u.usd:.4f}", limit(b.usd, "{:.2f}")),
        ("sandbox CPU s", f"{u.sandbox_cpu_s:.1f}", limit(b.sandbox_cpu_s)),
    ]


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session(request: Request, session_id: str) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    snap = web.runs.snapshot(session_id)
    view = _readable(snap)
    return web.page(
        request,
        "session.html",
        viewer,
        view=view,
        state=view.state,
        budgets=_budgets(view),
        proposals=view.of_kind("proposal"),
        damaged=[pv for pv in view.proposals if pv.proposal is None],
        findings=view.of_kind("finding"),
        audit=snap.audit,
    )


def _readable(snap: Snapshot) -> SessionView:
    view = snap.sessions[0]
    if view.state is None:
        raise PageError(409, "Session log unreadable", f"session {view.id}: {view.error}")
    return view


# -- a round's report --------------------------------------------------------------------
@router.get("/sessions/{session_id}/rounds/{number}", response_class=HTMLResponse)
def round_report(request: Request, session_id: str, number: int) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    snap = web.runs.snapshot(session_id)
    view = _readable(snap)
    assert view.state is not None
    info = next((r for r in view.state.rounds if r.number == number), None)
    directory = view.root / "rounds" / str(number)
    if info is None or not (directory / "report.md").is_file():
        raise NotFound(f"session {session_id} has no report for round {number} (yet)")
    html = web.runs.reports.get(
        directory,
        [directory / "report.md", directory / "report.json"],
        lambda: _render(view, number, directory),
    )
    return web.page(
        request,
        "round.html",
        viewer,
        view=view,
        info=info,
        report=html,
        proposals=view.of_kind("proposal", number),
        findings=view.of_kind("finding", number),
        audit=snap.audit,
    )


def _render(view: SessionView, number: int, directory: Path) -> str:
    from aar.web._pages_more import report_links

    sid = view.id
    assert view.state is not None
    record_url, experiment_url = report_links(view.state, sid)

    def figure_url(name: str) -> str | None:
        if not (directory / name).is_file() or (directory / name).is_symlink():
            return None
        return f"/sessions/{sid}/rounds/{number}/files/{name}"

    def item_url(item_id: str) -> str:
        return f"/{'proposals' if item_id.startswith('p-') else 'findings'}/{item_id}"

    text = (directory / "report.md").read_text(encoding="utf-8", errors="replace")
    return render_report(
        text,
        figure_url=figure_url,
        record_url=record_url,
        item_url=item_url,
        experiment_url=experiment_url,
    )


@router.get("/sessions/{session_id}/rounds/{number}/files/{name}")
def round_file(request: Request, session_id: str, number: int, name: str) -> Response:
    """A figure of a round, read without following links (only PNG files of that folder)."""
    web = _web(request)
    web.viewer(request)
    root = web.config.runs_dir / web.runs.check_session(session_id)
    if not FIGURE_NAME.match(name):
        raise NotFound(f"no figure {name!r} (only .png files of the round are served)")
    path = root / "rounds" / str(number) / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise NotFound(f"round {number} of {session_id} has no figure {name}") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(20 << 20)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


# -- a record ----------------------------------------------------------------------------
@router.get("/sessions/{session_id}/records/{record_id}", response_class=HTMLResponse)
def record(request: Request, session_id: str, record_id: str) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    view = _readable(web.runs.snapshot(session_id))
    state = view.state
    assert state is not None
    entry = state.record(record_id)
    full = record_by_prefix(state, record_id) if entry is None else None
    if full is not None:  # the 12 characters a report or the terminal printed
        return RedirectResponse(f"/sessions/{session_id}/records/{full}", status_code=303)
    if entry is None:
        raise NotFound(f"session {session_id} has no evaluation record {record_id!r}")
    experiment = state.experiments.get(entry.experiment)
    code = _code_of(experiment.cells if experiment else [], entry.record.code_sha256)
    cited = [f for f in state.findings.values() if record_id in f.eval_record_ids]
    return web.page(
        request,
        "record.html",
        viewer,
        view=view,
        entry=entry,
        r=entry.record,
        experiment=experiment,
        code=code,
        cited=cited,
    )


def _code_of(cells: list[str], sha256: str) -> str | None:
    """The cells that hash to the record's code sha256 (the code that produced it)."""
    for n in range(len(cells), -1, -1):
        if cells_sha256(cells[:n]) == sha256:
            return join_cells(cells[:n])
    return None


def next_step(web: Web, view: SessionView) -> NextStep:
    """What moves the session on now (`aar resume`, or its team's next round), as parts
    that `_next_step.html` shows with each command in `<code>` (all of it escaped)."""
    pending = [i.id for i in view.items if i.kind == "proposal" and i.status == "pending"]
    lookup = web.config.team_of
    team = lookup(web.config.runs_dir, view.id) if lookup is not None else None
    return next_step_parts(view.id, pending, team)


# -- a finding ---------------------------------------------------------------------------
@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding(request: Request, finding_id: str, decided: str | None = None) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", finding_id):
        raise ItemNotFoundError(f"{finding_id!r} is not a finding id")
    try:
        memory, memory_error = web.with_store(lambda store: store.get(finding_id)), None
    except AarError as exc:
        memory, memory_error = None, str(exc)
    logged = web.runs.logged_finding(finding_id, memory.session_id if memory else None)
    f = memory or logged
    if f is None:
        raise ItemNotFoundError(f"no finding {finding_id} in any session or in the memory")
    audit = web.runs.audit_cache.view()
    return web.page(
        request,
        "finding.html",
        viewer,
        f=f,
        item=finding_item(f, audit.about(f.id)),
        memory=memory,
        memory_error=memory_error,
        history=audit.about(f.id),
        decided=decided if decided in ("approve", "reject") else None,
        audit=audit,
    )


# -- the audit log -----------------------------------------------------------------------
@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, page: int = 1) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    audit = web.runs.snapshot().audit
    report = web.runs.audit_cache.verify()
    records = audit.records[::-1]
    pages = max(1, -(-len(records) // AUDIT_PAGE))
    if not 1 <= page <= pages:
        raise NotFound(f"the audit log has {pages} page(s), not {page}")
    shown = records[(page - 1) * AUDIT_PAGE : page * AUDIT_PAGE]
    return web.page(
        request,
        "audit.html",
        viewer,
        report=report,
        records=shown,
        total=len(records),
        page=page,
        pages=pages,
        audit=audit,
    )


# -- the leaderboard ---------------------------------------------------------------------
@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard(request: Request, task: str = "") -> Response:
    """Confirmed holdout results across every session (built by `aar.team`, which `aar serve`
    passes in); each row links its session, finding and code (the record page shows it)."""
    web = _web(request)
    viewer = web.viewer(request)
    build = web.config.leaderboard
    board = build(web.config.runs_dir) if build is not None else None
    boards = [b for b in board.tasks if not task or b.task == task] if board else []
    return web.page(request, "leaderboard.html", viewer, board=board, boards=boards, task=task)


# -- the findings memory -----------------------------------------------------------------
@router.get("/memory", response_class=HTMLResponse)
def memory(
    request: Request,
    q: str = "",
    task: str = "",
    verdict: Verdict | Literal[""] = "",
    status: ReviewStatus | Literal[""] = "",
    k: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    from aar.memory import FindingFilter

    web = _web(request)
    viewer = web.viewer(request)
    filters = FindingFilter(task=task or None, verdict=verdict or None, status=status or None)
    hits, error = _search(web, q, filters, k)
    tasks = web.runs.tasks()
    return web.page(
        request,
        "memory.html",
        viewer,
        q=q,
        task=task,
        verdict=verdict,
        status=status,
        k=k,
        hits=hits,
        error=error,
        tasks=tasks,
        statuses=[s for s in ITEM_STATUSES if s in ("pending", "approved", "rejected")],
    )


def _search(web: Web, q: str, filters: Any, k: int) -> tuple[list[Any] | None, str | None]:
    if not q.strip():
        return None, None
    try:
        return web.with_store(lambda store: store.search(q, filters, k=k)), None
    except AarError as exc:
        return None, str(exc)
