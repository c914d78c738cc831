"""More pages a reviewer reads: an experiment's notebook, a round's transcript, records by the
12-character ids reports print, and a comparison of sessions.

Every string on them was written by the researcher or its code: the templates escape it and
mark hidden characters (`visible`), outputs are plain text or PNG images served by the app, and
long outputs are collapsed in `<details>` (no JavaScript).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aar.hashing import cells_sha256
from aar.session import (
    ExperimentStarted,
    ModelUsage,
    Note,
    RoundEnded,
    SessionState,
    ToolCalled,
)
from aar.web._app import PageError, Web
from aar.web._compare import router as compare_router
from aar.web._notebook import MAX_TEXT, NotebookCell, Reader, Said, clip, png_of
from aar.web._runs import NotFound, SessionView

router = APIRouter()
router.include_router(compare_router)
EXPERIMENT_ID = re.compile(r"^e-[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
CODE = re.compile(r"^[0-9a-f]{12}$")
_lock = threading.Lock()


def _web(request: Request) -> Web:
    return request.app.state.web


def _reader(request: Request) -> Reader:
    """The app's reader of events, notebooks and messages (made on first use)."""
    state = request.app.state
    with _lock:
        if not hasattr(state, "pages_more"):
            state.pages_more = Reader()
    reader: Reader = state.pages_more
    return reader


def _session(web: Web, session_id: str) -> SessionView:
    view = web.runs.snapshot(session_id).sessions[0]
    if view.state is None:
        raise PageError(409, "Session log unreadable", f"session {view.id}: {view.error}")
    return view


# -- ids that reports print --------------------------------------------------------------
def record_by_prefix(state: SessionState, code: str) -> str | None:
    """The full id of the one record (test or holdout) whose id starts with `code`."""
    if not 8 <= len(code) < 32 or not re.fullmatch(r"[0-9a-f]+", code):
        return None
    found = {e.record.id for e in [*state.evaluations, *state.holdout]}
    matches = [i for i in found if i.startswith(code)]
    return matches[0] if len(matches) == 1 else None


def experiment_by_code(state: SessionState, code: str) -> str | None:
    """The experiment a 12-character commit or code sha256 names (reports print both)."""
    return _unique(_experiment_codes(state), code)


def _experiment_codes(state: SessionState) -> dict[str, set[str]]:
    """Full commit or code sha256 -> the experiments it names (a record's code, the cells of
    an experiment, its commit)."""
    codes: dict[str, set[str]] = {}
    for e in state.experiments.values():
        for full in (e.commit, cells_sha256(e.cells) if e.cells else None):
            if full:
                codes.setdefault(full, set()).add(e.id)
    for entry in [*state.evaluations, *state.holdout]:
        codes.setdefault(entry.record.code_sha256, set()).add(entry.experiment)
    return codes


def _unique(codes: dict[str, set[str]], code: str) -> str | None:
    """The experiment a 12-character commit or code names: one full hash must start with it;
    several experiments that ran that same code (a confirmation re-running the baselines' cells)
    link the first of them, which is where the code ran first."""
    fulls = [full for full in codes if full.startswith(code)]
    return min(codes[fulls[0]]) if len(fulls) == 1 else None


def report_links(
    state: SessionState, session_id: str
) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """(record_url, experiment_url) for a round report of this session: a code span of 12
    hex digits links its record, else the experiment of that commit or code; a notebook path
    (`experiments/e-.../notebook.ipynb`) links its experiment page."""
    base = f"/sessions/{session_id}"
    records = {e.record.id for e in [*state.evaluations, *state.holdout]}
    codes = _experiment_codes(state)

    def record_url(code: str) -> str | None:
        if not CODE.match(code):
            return None
        full = [i for i in records if i.startswith(code)]
        if len(full) == 1:
            return f"{base}/records/{full[0]}"
        exp = _unique(codes, code)
        return f"{base}/experiments/{exp}" if exp else None

    def experiment_url(experiment: str) -> str | None:
        return f"{base}/experiments/{experiment}" if experiment in state.experiments else None

    return record_url, experiment_url


@router.get("/records/{code}")
def record_anywhere(request: Request, code: str) -> Response:
    """A record by the 12 characters a report or the terminal printed, in whichever session
    holds it (one match: redirect to its page)."""
    web = _web(request)
    web.viewer(request)
    if not re.fullmatch(r"[0-9a-f]{8,32}", code):
        raise NotFound(f"{code!r} is not a record id (8 to 32 hex digits)")
    found = []
    for sid in web.runs.session_ids():
        state = web.runs.session(sid).state
        full = record_by_prefix(state, code) if state else None
        if full or (state and code in {e.record.id for e in state.evaluations}):
            found.append((sid, full or code))
    if len(found) != 1:
        what = "no session holds" if not found else f"{len(found)} sessions hold"
        raise NotFound(f"{what} a record {code}")
    sid, full = found[0]
    return RedirectResponse(f"/sessions/{sid}/records/{full}", status_code=303)


# -- an experiment -----------------------------------------------------------------------
@dataclass
class CellView:
    number: int
    code: str
    status: str
    duration_s: float | None = None
    cpu_s: float | None = None
    message: str | None = None
    error: str | None = None
    outputs: list[Any] = field(default_factory=list)
    note: str | None = None


@router.get("/sessions/{session_id}/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment(request: Request, session_id: str, experiment_id: str) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    view = _session(web, session_id)
    state = view.state
    assert state is not None
    exp = state.experiments.get(experiment_id) if EXPERIMENT_ID.match(experiment_id) else None
    if exp is None:
        raise NotFound(f"session {session_id} has no experiment {experiment_id!r}")
    reader = _reader(request)
    notebook = reader.notebook(view.root / exp.path / "notebook.ipynb")
    cells = _cells(reader, view, experiment_id, notebook.cells)
    records = [e for e in [*state.evaluations, *state.holdout] if e.experiment == exp.id]
    hypothesis = state.hypotheses.get(exp.hypothesis_id or "")
    return web.page(
        request,
        "experiment.html",
        viewer,
        view=view,
        exp=exp,
        hypothesis=hypothesis,
        cells=cells,
        notebook_problem=notebook.problem,
        records=records,
        total_s=sum(c.duration_s or 0 for c in cells),
        total_cpu=sum(c.cpu_s or 0 for c in cells),
    )


def _cells(reader: Reader, view: SessionView, exp_id: str, nb: list[NotebookCell]) -> list[Any]:
    """The logged cells (code, status, timing) with the notebook's outputs of the same cell:
    the notebook cell in the same place, used only when its code is the logged code."""
    out = []
    for run in reader.cells(view.root, exp_id):
        cell = CellView(run.index, run.code, run.status, run.duration_s, run.cpu_s, run.message)
        cell.error = run.error
        book = nb[run.index - 1] if 0 < run.index <= len(nb) else None
        if book is not None and book.source == run.code:
            cell.outputs = book.outputs
        elif book is not None:
            cell.note = "the notebook's cell here holds other code: its outputs are not shown"
        else:
            cell.note = "no output in the notebook (not saved yet, or the cell printed nothing)"
        out.append(cell)
    return out


@router.get("/sessions/{session_id}/experiments/{experiment_id}/images/{cell}/{number}.png")
def experiment_image(
    request: Request, session_id: str, experiment_id: str, cell: int, number: int
) -> Response:
    """An image a cell displayed, from the notebook (PNG only, checked by its signature)."""
    web = _web(request)
    web.viewer(request)
    view = _session(web, session_id)
    state = view.state
    assert state is not None
    exp = state.experiments.get(experiment_id) if EXPERIMENT_ID.match(experiment_id) else None
    if exp is None:
        raise NotFound(f"session {session_id} has no experiment {experiment_id!r}")
    raw = _reader(request).notebook(view.root / exp.path / "notebook.ipynb").raw
    outputs = raw[cell - 1].get("outputs") or [] if 0 < cell <= len(raw) else []
    image = png_of(outputs[number]) if 0 <= number < len(outputs) else None
    if image is None:
        raise NotFound(f"cell {cell} of {experiment_id} has no image {number}")
    return Response(image, media_type="image/png", headers={"Cache-Control": "private"})


# -- a round's transcript ----------------------------------------------------------------
@dataclass
class ToolView:
    name: str
    args: list[tuple[str, str, bool]]
    """(name, value, multi-line) of each argument."""
    outcome: str
    cut: int
    failed: bool


@dataclass
class Step:
    """One model request and what followed it: its usage, text, tool calls and notes."""

    number: int
    usage: ModelUsage | None = None
    at: Any = None
    said: Said | None = None
    tools: list[ToolView] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(kind, text): notes, experiments started, the round's end."""


@router.get("/sessions/{session_id}/rounds/{number}/transcript", response_class=HTMLResponse)
def transcript(request: Request, session_id: str, number: int) -> Response:
    web = _web(request)
    viewer = web.viewer(request)
    view = _session(web, session_id)
    state = view.state
    assert state is not None
    info = next((r for r in state.rounds if r.number == number), None)
    if info is None:
        raise NotFound(f"session {session_id} has no round {number}")
    reader = _reader(request)
    steps = _steps([e for e in reader.events(view.root) if e.round == number])
    said, problem = reader.messages(view.root / "rounds" / str(number) / "messages.json")
    requests = [s for s in steps if s.usage is not None]
    unmatched = _attach(requests, said)
    scripted = bool(requests) and all(s.usage.model == "scripted" for s in requests if s.usage)
    used = [s.usage for s in requests if s.usage is not None]
    return web.page(
        request,
        "transcript.html",
        viewer,
        view=view,
        info=info,
        steps=steps,
        scripted=scripted,
        messages_problem=problem,
        unmatched=unmatched,
        total_in=sum(u.input_tokens for u in used),
        total_out=sum(u.output_tokens for u in used),
        total_usd=sum(u.usd for u in used if u.usd is not None),
        unpriced=sum(u.usd is None and u.model != "scripted" for u in used),
    )


def _steps(events: list[Any]) -> list[Step]:
    """Steps in log order: a model request opens one; what the session did before the
    first request (its baselines) is step 0."""
    steps = [Step(0)]
    for event in events:
        data = event.data
        if isinstance(data, ModelUsage):
            steps.append(Step(len(steps), data, event.at))
        elif isinstance(data, ToolCalled):
            steps[-1].tools.append(_tool(data))
        elif isinstance(data, Note):
            steps[-1].notes.append(("note", data.message))
        elif isinstance(data, ExperimentStarted):
            steps[-1].notes.append(("experiment", data.id))
        elif isinstance(data, RoundEnded):
            ended = data.why + (f": {data.summary}" if data.summary else "")
            steps[-1].notes.append(("ended", ended))
    return steps if steps[0].tools or steps[0].notes else steps[1:]


def _tool(call: ToolCalled) -> ToolView:
    args = []
    for key, value in call.args.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        args.append((key, clip(text, MAX_TEXT)[0], "\n" in text))
    try:
        parsed = json.loads(call.outcome)
        outcome = json.dumps(parsed, indent=1, ensure_ascii=False)
        failed = isinstance(parsed, dict) and "error" in parsed and parsed["error"] is not None
    except ValueError:
        outcome, failed = call.outcome, True
    text, cut = clip(outcome)
    return ToolView(call.name, args, text, cut, failed)


def _attach(requests: list[Step], said: list[Said] | None) -> list[Said]:
    """Give each request the text of its response (the n-th response of the round's saved
    messages); when the counts differ (a round killed mid-request), none is guessed and the
    text is returned to be shown on its own."""
    if not said:
        return []
    if len(said) != len(requests):
        return [s for s in said if s.text or s.thinking]
    for step, text in zip(requests, said, strict=True):
        step.said = text
    return []
