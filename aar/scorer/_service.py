"""The scorer as an HTTP service: the one process of a team that holds the labels.

Researchers (Dask workers) score through `RemoteScorer` and never load ground truth. Every
request needs `Authorization: Bearer <token>`. The team's budgets are enforced here, inside
the ledger's lock, never trusted to a client:

- a test request's `budget` is capped at `TeamBudget.per_account_evals` (None or more gets the
  cap);
- once the team's charged test submissions reach `TeamBudget.total_evals`, the next one is
  refused. The count is read from the ledger (accounts that ever scored through a service of
  this team, `<ledger>/teams/<team>.accounts`), so it survives a restart, and it is checked
  under the same lock as the charge, so concurrent requests (threads or processes) at the
  boundary never overshoot it.

Error answers are one JSON line `{"error": ..., "kind": ...}`: 401 bad or missing token,
402 budget spent (`BudgetExceededError`; 402 rather than 429 because waiting does not help),
404 unknown task, 413 body over the cap, 422 invalid predictions or request, 503 ledger busy,
500 anything else (its detail stays in the service's log).
"""

from __future__ import annotations

import copy
import hmac
import logging
import socket
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from aar.errors import AarError, UsageError
from aar.net import is_loopback, listening_socket
from aar.scorer._models import ScoreRequest, ScoreResponse, ScorerHealth, TeamBudget
from aar.scorer._scorer import Scorer
from aar.scorer._team import TeamLedgerStore

MAX_BODY = 64 << 20
"""The largest request body (a [rows, classes] list of floats as JSON)."""
LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


class _Backend:
    """What the app's routes call: the scorer on the team's store, and the export cache."""

    def __init__(self, scorer: Scorer, budgets: TeamBudget | None) -> None:
        self.scorer = copy.copy(scorer)  # the caller's scorer keeps its own store
        self.scorer.store = TeamLedgerStore(scorer.store, budgets)
        self.budgets = budgets
        self._warm = threading.Lock()
        self._warmed: set[tuple[str, int]] = set()
        self._exports = tempfile.TemporaryDirectory(prefix="aar-scorer-public-")
        self._export_lock = threading.Lock()

    def capped(self, request: ScoreRequest) -> ScoreRequest:
        """The request with the server's per-account cap as its budget (test split only)."""
        cap = None if self.budgets is None else self.budgets.per_account_evals
        total = None if self.budgets is None else self.budgets.total_evals
        if request.split != "test" or (cap is None and total is None):
            return request
        budget = request.budget
        if cap is not None:
            budget = cap if budget is None else min(budget, cap)
        elif budget is None:
            budget = 10**12  # metered, so the team's total can count it
        return request.model_copy(update={"budget": budget})

    def score(self, request: ScoreRequest) -> ScoreResponse:
        self.warm(request.task, request.seed)
        return self.scorer.score(self.capped(request))

    def warm(self, task: str, seed: int) -> None:
        """Build a pair's evaluator and everything it computes lazily (the ceiling and naive
        students, each split's baselines) in one thread, before concurrent requests use it:
        `Evaluator`'s lazy state is not thread-safe."""
        key = (task, seed)
        if key in self._warmed:
            return
        with self._warm:
            if key in self._warmed:
                return
            ev = self.scorer.evaluator(task, seed)
            for split in ("test", "holdout"):
                ev.exact_metrics(ev.reference_probs(split), split, with_auroc=False)
                ev.reference_acc(split)
            self._warmed.add(key)

    def public_zip(self, task: str, seed: int) -> Path:
        """The public export of a pair as a zip file, made once per service."""
        from aar.bench import export_public, get_task

        name = get_task(task).name
        target = Path(self._exports.name) / f"{name}-{seed}.zip"
        with self._export_lock:
            if target.exists():
                return target
            with tempfile.TemporaryDirectory(dir=self._exports.name) as tmp:
                export = export_public(name, seed, Path(tmp) / "export")
                partial = target.with_suffix(".part")
                with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                    for path in sorted(export.rglob("*")):
                        if path.is_file() and not path.is_symlink():
                            zf.write(path, path.relative_to(export).as_posix())
                partial.replace(target)
        return target

    def close(self) -> None:
        self._exports.cleanup()


def _error(status: int, exc: BaseException | str, kind: str | None = None) -> Response:
    from fastapi.responses import JSONResponse

    message = " ".join(str(exc).split()) or type(exc).__name__
    name = kind or (type(exc).__name__ if isinstance(exc, BaseException) else "Error")
    return JSONResponse({"error": message, "kind": name}, status_code=status)


_STATUS = {
    "InvalidPredictionsError": 422,
    "BudgetExceededError": 402,
    "UnknownTaskError": 404,
    "ScorerLockError": 503,
}


def _aar_error(exc: AarError) -> Response:
    return _error(_STATUS.get(type(exc).__name__, 400), exc)


class _TokenCheck:
    """Pure ASGI: every HTTP request must carry the token (compared in constant time)."""

    def __init__(self, app: Any, expected: bytes) -> None:
        self.app = app
        self.expected = expected

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                refusal = _error(401, "missing or wrong scorer token", "ScorerAuthError")
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def scorer_app(
    scorer: Scorer, token: str, budgets: TeamBudget | None = None, *, max_body: int = MAX_BODY
) -> FastAPI:
    """The service's ASGI app. `scorer` is copied onto a ledger store that enforces `budgets`
    (the caller's own scorer is left as it was). No docs or OpenAPI pages: nothing is served
    without the token."""
    from fastapi.responses import FileResponse
    from fastapi.responses import Response as Plain
    from starlette.concurrency import run_in_threadpool

    if len(token) < 16:
        raise UsageError("the scorer service's token must be at least 16 characters")
    backend = _Backend(scorer, budgets)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    app.add_middleware(_TokenCheck, expected=f"Bearer {token}".encode())
    app.add_exception_handler(AarError, lambda _r, exc: _aar_error(exc))
    app.add_exception_handler(Exception, _internal)

    @app.post("/score")
    async def score(request: Request) -> Response:
        body = await _read_body(request, max_body)
        if isinstance(body, str):
            return _error(413, body, "RequestTooLarge")
        try:
            parsed = ScoreRequest.model_validate_json(body)
        except ValueError as exc:
            return _error(422, _problems(exc), "InvalidPredictionsError")
        answer = await run_in_threadpool(backend.score, parsed)
        return Plain(answer.model_dump_json(), media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        from aar.bench import key_id

        ledger = str(backend.scorer.store.dir)
        answer = ScorerHealth(ledger=ledger, key_id=key_id(), budgets=budgets)
        return Plain(answer.model_dump_json(), media_type="application/json")

    @app.get("/pools")
    async def pools() -> list[dict[str, Any]]:
        pools_dir = backend.scorer.store.dir / "pools"
        tasks = sorted(t for t in map(_pool_task, pools_dir.glob("*.jsonl")) if t)
        status = [await run_in_threadpool(backend.scorer.pool_status, t) for t in tasks]
        return [s.model_dump() for s in status]

    @app.get("/public/{task}/{seed}")
    async def public(task: str, seed: int) -> Response:
        if seed < 0:
            return _error(422, f"seed must be >= 0, got {seed}", "InvalidSeedsError")
        path = await run_in_threadpool(backend.public_zip, task, seed)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    return app


async def _internal(request: Request, exc: Exception) -> Response:
    """One line to the client; the traceback goes to the service's log."""
    log.error("scorer service: %s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, f"internal error ({type(exc).__name__})", "InternalError")


def _problems(exc: ValueError) -> str:
    from pydantic import ValidationError

    from aar.errors import validation_problems

    if isinstance(exc, ValidationError):
        return "invalid score request: " + "; ".join(validation_problems(exc, model=ScoreRequest))
    return f"invalid score request: {exc}"


def _pool_task(path: Path) -> str | None:
    """A pool file's task name (hashed file names of odd task names are skipped)."""
    return None if path.name.startswith("task-") else path.name.removesuffix(".jsonl")


async def _read_body(request: Request, limit: int) -> bytes | str:
    """The body, or why it is refused (over `limit` bytes, declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return f"request body of {declared} bytes is over the {limit}-byte limit"
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return f"request body is over the {limit}-byte limit"
        chunks.append(chunk)
    return b"".join(chunks)


def bind(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening socket; anything but loopback needs `allow_remote` (cluster mode)."""
    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"refusing to serve the scorer on {host}, which other machines can reach; "
            "pass --allow-remote (cluster mode) to mean it"
        )
    return listening_socket(host, port, backlog=512)


class ScorerService:
    """The scorer service in a background thread of this process.

    Args:
        scorer: the scorer (its ledger, policy and evaluator cache).
        token: what every request must present as `Authorization: Bearer <token>`.
        budgets: the team's budgets (None: each request's own budget, as in-process).
        host, port: where to listen (port 0: a free port); non-loopback needs `allow_remote`.
        max_body: the largest request body in bytes (413 above it).
    """

    def __init__(
        self,
        scorer: Scorer,
        token: str,
        budgets: TeamBudget | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        allow_remote: bool = False,
        max_body: int = MAX_BODY,
    ) -> None:
        self.app = scorer_app(scorer, token, budgets, max_body=max_body)
        self._sock = bind(host, port, allow_remote=allow_remote)
        bound_host, bound_port = self._sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> ScorerService:
        """Serve in a background thread; returns once the server accepts connections."""
        import uvicorn

        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name="aar-scorer-service",
        )
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > timeout:
                raise AarError(f"the scorer service on {self.url} did not start")
            threading.Event().wait(0.01)
            waited += 0.01
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (requests in flight get `timeout` seconds to finish)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sock.close()
        self.app.state.backend.close()

    def __enter__(self) -> ScorerService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
