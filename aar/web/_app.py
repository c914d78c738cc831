"""The reviewers' web page: a FastAPI app of server-rendered pages (Jinja2), no JavaScript.

`create_app(WebConfig(...))` builds it; `aar serve` runs it with uvicorn. Pages need a login
when reviewers are configured (`review.reviewers`); without one the app is read-only and says
how to add a reviewer. Every POST needs a valid login and its CSRF secret; the reviewer a
decision records is the logged-in one. Errors are pages with the right status code: 404 for
an unknown id, 400 for a malformed or tampered form, 401 for a missing or expired login, 403
for a CSRF secret that does not match (or a read-only app), 409 for an item already decided or
expired, 503 when the audit log fails verification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from aar.errors import AarError, validation_message
from aar.review import (
    AlreadyDecidedError,
    AuditBusyError,
    AuditIntegrityError,
    ItemNotFoundError,
    MemorySyncError,
    ProposalExpiredError,
    ProposalFileError,
    ReviewKeyError,
)
from aar.session import EVENTS
from aar.web._auth import LOGIN_COOKIE, Signer
from aar.web._cache import StampCache
from aar.web._runs import NotFound, RunsView
from aar.web._text import visible

if TYPE_CHECKING:
    from aar.memory import FindingsStore

log = logging.getLogger("aar.web")
T = TypeVar("T")
_STATUS: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (ItemNotFoundError, 404),
    (AlreadyDecidedError, 409),
    (ProposalExpiredError, 409),
    (ProposalFileError, 409),
    (AuditIntegrityError, 503),
    (ReviewKeyError, 503),
    (AuditBusyError, 503),
    (MemorySyncError, 503),
]
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class WebConfig:
    """What the app serves and who may decide.

    Args:
        runs_dir: the runs directory (sessions and the audit log).
        reviewers: name -> 'sha256:<hex>' of the personal token (`review.reviewers`).
        login_seconds: how long a login lasts.
        key_file: the review key (default: the configured one).
        open_store: opens the findings memory on first use (default: the configured one).
        allowed_hosts: Host headers to answer (None: any). A server on loopback answers only
            its loopback names, so a page of another site whose name was pointed at 127.0.0.1
            (DNS rebinding) cannot read it.
        leaderboard: builds the leaderboard of a runs directory (`aar.team.leaderboard`,
            passed in by `aar serve`: the web layer sits below the team package); None: the
            page says the app has none.
    """

    runs_dir: Path
    reviewers: dict[str, str] = field(default_factory=dict)
    login_seconds: float = 12 * 3600
    key_file: Path | None = None
    open_store: Callable[[], FindingsStore] | None = None
    allowed_hosts: list[str] | None = None
    leaderboard: Callable[[Path], Any] | None = None
    team_of: Callable[[Path, str], str | None] | None = None
    """The team a session researches in (read from `runs/teams/*/team.json` by `aar serve`;
    the web layer sits below the team package): its next step is `aar team resume TEAM`."""


class PageError(Exception):
    """An error page: status code, title, one line saying what happened and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class LoginRequired(Exception):
    """A page that needs a login, opened without one: go to the login page."""

    def __init__(self, path: str, expired: bool) -> None:
        self.path, self.expired = path, expired


@dataclass
class Viewer:
    """Who is looking: a logged-in reviewer (with the CSRF secret of the login) or nobody."""

    reviewer: str | None = None
    csrf: str | None = None
    read_only: bool = False


class Web:
    """The app's state: configuration, caches, the cookie signer, the findings memory."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.runs = RunsView(config.runs_dir, config.key_file)
        self.signer = Signer()
        self.templates = _templates()
        self._store: FindingsStore | None = None
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aar-memory")
        if config.leaderboard is not None:  # a copy: the caller's config stays as it was
            self.config = replace(config, leaderboard=_stamped_leaderboard(config.leaderboard))

    @property
    def read_only(self) -> bool:
        return not self.config.reviewers

    def with_store(self, use: Callable[[FindingsStore], T]) -> T:
        """`use(store)` on the findings memory, opened once. Every use runs on one thread of
        its own: the store's SQLite index may only be used by the thread that opened it, and
        one at a time is what a single local store wants anyway."""
        return self._store_thread.submit(self._use_store, use).result()

    def warm_store(self) -> None:
        """Open the findings memory now and search it once (on its thread), so a reviewer's
        first search is quick; a memory that cannot be opened is left to the memory page."""

        def first_search(store: FindingsStore) -> None:
            store.search("warm up the index and the embedder", k=1)

        self._store_thread.submit(self._quietly, first_search).result()

    def _quietly(self, use: Callable[[FindingsStore], None]) -> None:
        try:
            self._use_store(use)
        except AarError as exc:
            log.info("findings memory not opened: %s", exc)

    def _use_store(self, use: Callable[[FindingsStore], T]) -> T:
        if self._store is None:
            opener = self.config.open_store or _configured_store
            self._store = opener()
        return use(self._store)

    def viewer(self, request: Request) -> Viewer:
        """The viewer of a page; without a valid login (when reviewers exist) -> login page."""
        if self.read_only:
            return Viewer(read_only=True)
        check = self.signer.read_login(request.cookies.get(LOGIN_COOKIE), self.config.reviewers)
        if check.login is None:
            raise LoginRequired(request.url.path, expired=check.status == "expired")
        return Viewer(check.login.reviewer, check.login.csrf)

    def error_html(self, status: int, title: str, message: str) -> str:
        """The app's error page for a request that never reached it (`aar.web._server`
        answers an over-long URL or a malformed request with it): nobody logged in."""
        return self.templates.get_template("error.html").render(
            viewer=Viewer(read_only=self.read_only),
            audit_problem=None,
            runs_dir=str(self.config.runs_dir),
            title=title,
            message=message,
            error_code=status,
        )

    def unauthenticated_post(self, request: Request) -> str | None:
        """Why a POST is refused with 401 before its body is read, or None: a POST other than
        the login form, to an app with reviewers, from this site, without a valid login. So
        a form of nobody costs no parsing, and an oversized or malformed one gets the 401
        README promises rather than a 400 about its fields (a foreign Origin is left to the
        route, which refuses it with 403)."""
        if request.method != "POST" or self.read_only or request.url.path == "/login":
            return None
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
            return None
        check = self.signer.read_login(request.cookies.get(LOGIN_COOKIE), self.config.reviewers)
        if check.login is not None:
            return None
        why = "your login expired" if check.status == "expired" else "you are not logged in"
        return f"{why}; log in again (nothing was done)"

    def page(
        self, request: Request, name: str, viewer: Viewer, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        audit = context.pop("audit", None)
        context |= {
            "viewer": viewer,
            "audit_problem": audit.problem if audit is not None else None,
            "runs_dir": str(self.config.runs_dir),
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def _stamped_leaderboard(build: Callable[[Path], Any]) -> Callable[[Path], Any]:
    """`build` (which replays every session's log: ~25 ms a session, seconds for a hundred)
    built again only when a session's log changed or a session came or went (the runs
    directory's own stamp); the board depends on nothing else."""
    cache: StampCache[Any] = StampCache()

    def cached(runs_dir: Path) -> Any:
        logs = sorted(runs_dir.glob(f"s-*/{EVENTS}"))
        return cache.get(("board", runs_dir), [runs_dir, *logs], lambda: build(runs_dir))

    return cached


def _configured_store() -> FindingsStore:
    from aar.review import open_findings_store

    return open_findings_store()


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("aar.web") / "templates"))
    env = templates.env
    env.filters["visible"] = visible
    env.filters["when"] = _when
    env.filters["short"] = lambda text, n=12: (text or "")[:n]
    env.filters["num"] = _num
    env.globals["quote"] = quote
    return templates


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def status_of(exc: Exception) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400 if getattr(exc, "exit_code", 2) == 2 else 503


def create_app(config: WebConfig) -> FastAPI:
    """The app (see the module doc)."""
    from aar.web._actions import router as actions
    from aar.web._pages import router as pages
    from aar.web._pages_more import router as pages_more
    from aar.web._pages_proposals import router as pages_proposals

    app = FastAPI(title="aar review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = Web(config)
    app.mount("/static", StaticFiles(directory=str(files("aar.web") / "static")), name="static")
    app.include_router(pages)
    app.include_router(pages_more)  # experiments, transcripts, record ids, comparison
    app.include_router(pages_proposals)  # a proposal and its exact code
    app.include_router(actions)
    _add_error_pages(app)
    if config.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        web: Web = request.app.state.web
        refusal = web.unauthenticated_post(request)
        if refusal is not None:
            response: Response = web.page(
                request,
                "error.html",
                Viewer(),
                401,
                title="Login needed",
                message=refusal,
                error_code=401,
            )
        else:
            response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        elapsed = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"  # what bench_web reads
        return response

    return app


def _add_error_pages(app: FastAPI) -> None:
    def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        web: Web = request.app.state.web
        return web.page(
            request,
            "error.html",
            _quiet_viewer(web, request),
            status,
            title=title,
            message=message,
            error_code=status,
        )

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(AarError)
    async def aar_error(request: Request, exc: AarError) -> Response:
        status = status_of(exc)
        return error_page(request, status, _TITLES.get(status, "Refused"), str(exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = f"/login?next={quote(exc.path)}" + ("&expired=1" if exc.expired else "")
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        """A field outside its declared type or bounds (the route's `Form`/`Query`)."""
        what = validation_message(exc, skip_loc=1)  # `body.verdict` -> `verdict`
        return error_page(request, 400, "Malformed request", f"{what}; reload the page")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, _TITLES.get(exc.status_code, "Error"), message)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        return error_page(request, 500, "Internal error", "an internal error; see the server log")


_TITLES = {
    400: "Malformed request",
    401: "Login needed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    503: "Unavailable",
}


def _quiet_viewer(web: Web, request: Request) -> Viewer:
    """The viewer for an error page (never itself an error)."""
    if web.read_only:
        return Viewer(read_only=True)
    check = web.signer.read_login(request.cookies.get(LOGIN_COOKIE), web.config.reviewers)
    return Viewer(check.login.reviewer, check.login.csrf) if check.login else Viewer()
