"""A comparison of sessions: the best confirmed holdout PGR per task in each session, as a
table and a figure (a PNG drawn on the server with matplotlib; the page has no JavaScript).

The rows come from the leaderboard `aar serve` passes in (`WebConfig.leaderboard`, built by
`aar.team`): only holdout results a session decided, never test feedback. The figure is drawn
again only when a session's log changed (the leaderboard is built from the logs).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from aar.web._app import Web
from aar.web._cache import StampCache
from aar.web._runs import NotFound

router = APIRouter()
MAX_SESSIONS = 12
_lock = threading.Lock()


@dataclass
class Best:
    """One session's best confirmed holdout result on one task."""

    task: str
    session_id: str
    method: str
    pgr_mean: float
    pgr_ci: tuple[float, float]
    n_seeds: int
    round: int


@dataclass
class Comparison:
    tasks: list[str]
    sessions: list[str]
    """Newest first, at most MAX_SESSIONS of those with a result."""
    best: dict[tuple[str, str], Best]
    """(task, session) -> best."""
    hidden: int
    """Sessions with a result left out of the figure (older ones)."""
    sessions_read: int


def compare(board: Any) -> Comparison:
    """The best entry per (task, session) of a leaderboard (the highest holdout PGR mean)."""
    best: dict[tuple[str, str], Best] = {}
    for task_board in board.tasks:
        for e in task_board.entries:
            key = (task_board.task, e.session_id)
            if key not in best or e.pgr_mean > best[key].pgr_mean:
                best[key] = Best(
                    task_board.task,
                    e.session_id,
                    e.method,
                    float(e.pgr_mean),
                    (float(e.pgr_ci[0]), float(e.pgr_ci[1])),
                    int(e.n_seeds),
                    int(e.round),
                )
    sessions = sorted({s for _, s in best}, reverse=True)
    tasks = sorted({t for t, _ in best})
    shown = sessions[:MAX_SESSIONS]
    kept = {k: v for k, v in best.items() if k[1] in shown}
    return Comparison(tasks, shown, kept, len(sessions) - len(shown), board.sessions_read)


def figure_png(cmp: Comparison) -> bytes:
    """Tasks on the x axis; one marker per session (its own colour in every group) at its
    best holdout PGR, with the 95 % t-interval over seeds as the error bar; the weak (0) and
    ceiling (1) references as lines."""
    import matplotlib
    from matplotlib.figure import Figure

    width = max(6.0, 1.2 + 1.3 * len(cmp.tasks))
    fig = Figure(figsize=(min(width, 14.0), 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    colours = matplotlib.colormaps["tab10" if len(cmp.sessions) <= 10 else "tab20"]
    n = max(len(cmp.sessions), 1)
    for j, sid in enumerate(cmp.sessions):
        xs, ys, lo, hi = [], [], [], []
        for i, task in enumerate(cmp.tasks):
            b = cmp.best.get((task, sid))
            if b is None:
                continue  # no empty slot is drawn for a task the session has no result on
            xs.append(i + (j - (n - 1) / 2) * min(0.8 / n, 0.15))
            ys.append(b.pgr_mean)
            lo.append(max(b.pgr_mean - b.pgr_ci[0], 0.0))
            hi.append(max(b.pgr_ci[1] - b.pgr_mean, 0.0))
        colour = colours(j % colours.N)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, color=colour, label=sid)
    ax.axhline(0.0, color="#888", linestyle=":", linewidth=1, label="weak supervisor (PGR 0)")
    ax.axhline(1.0, color="#444", linestyle="--", linewidth=1, label="ceiling (PGR 1)")
    ax.set_xticks(range(len(cmp.tasks)), cmp.tasks)
    ax.set_xlim(-0.6, len(cmp.tasks) - 0.4)
    ax.set_ylabel("best confirmed holdout PGR (accuracy)")
    ax.set_title("Best confirmed holdout PGR per task, per session", fontsize=11)
    ax.set_xlabel("task (error bars: 95 % t-interval over the seeds)", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


class Compared:
    """The comparison and its figure, built again only when a session's log changed."""

    def __init__(self) -> None:
        self._cache = StampCache[tuple[Comparison | None, bytes | None]]()

    def get(self, web: Web) -> tuple[Comparison | None, bytes | None]:
        build = web.config.leaderboard
        if build is None:
            return None, None
        runs = web.config.runs_dir
        paths = [runs / sid / "events.jsonl" for sid in web.runs.session_ids()]

        def make() -> tuple[Comparison | None, bytes | None]:
            cmp = compare(build(runs))
            return cmp, figure_png(cmp) if cmp.best else None

        return self._cache.get(tuple(p.parent.name for p in paths), paths, make)


def _compared(request: Request) -> Compared:
    state = request.app.state
    with _lock:
        if not hasattr(state, "compared"):
            state.compared = Compared()
    found: Compared = state.compared
    return found


@router.get("/compare", response_class=HTMLResponse)
def comparison(request: Request) -> Response:
    web: Web = request.app.state.web
    viewer = web.viewer(request)
    cmp, png = _compared(request).get(web)
    rows = []
    if cmp is not None:
        rows = [(sid, [cmp.best.get((t, sid)) for t in cmp.tasks]) for sid in cmp.sessions]
    return web.page(request, "compare.html", viewer, cmp=cmp, rows=rows, figure=png is not None)


@router.get("/compare.png")
def comparison_png(request: Request) -> Response:
    web: Web = request.app.state.web
    web.viewer(request)
    _, png = _compared(request).get(web)
    if png is None:
        raise NotFound("no session has a confirmed holdout result to compare yet")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})
