"""The forms (POST): log in, log out, decide an item, approve a proposal with edits.

Every POST is checked before anything is read or written. The fields' types and bounds are
declared on the route (`Form` with a `Literal` verdict, a sha256 pattern), so FastAPI refuses
a malformed field (400, one line from the app's handler) before the route runs. Then, in
order: the Origin header (when the browser sends one) must be this server; the app must have
reviewers; the login must be valid and unexpired (401); the form's CSRF secret must be the
login's (403); the fields must name the version of the item the reviewer saw (400). Only then
does `aar.review` decide, atomically, with the logged-in reviewer as the one who decided: the
hash the page showed (the form's hidden `sha256`) goes into the decision itself, which
compares it with the item under the audit log's lock, in the same step as the append (no
window between a check here and the record there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aar.review import (
    AlreadyDecidedError,
    HashMismatchError,
    ItemNotFoundError,
    ProposalExpiredError,
    ProposalFileError,
    Verdict,
    check_decision_inputs,
    decide,
    item_kind,
)
from aar.web._app import PageError, Viewer, Web
from aar.web._auth import FORM_COOKIE, LOGIN_COOKIE, reviewer_for_token, same_secret, token_hash
from aar.web._edits import approve_with_edits, normalise_edit

router = APIRouter()
FormText = Annotated[str, Form()]
# The sha256 of what the page showed, whole, as the page writes it (a form without it, or
# with another string, is an outdated or tampered page).
SeenSha256 = Annotated[str, Form(pattern=r"^[0-9a-f]{64}$")]


def _web(request: Request) -> Web:
    return request.app.state.web


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(403, "Forbidden", "this form was sent from another site; nothing was done")


def _reviewer(request: Request, csrf: str) -> Viewer:
    """The logged-in reviewer a POST acts as, once its login and CSRF secret checked."""
    web = _web(request)
    _same_origin(request)
    if web.read_only:
        raise PageError(
            403,
            "Read-only",
            "no reviewer is configured, so nothing can be decided here; add one with "
            "`aar review token NAME` and restart `aar serve`",
        )
    check = web.signer.read_login(request.cookies.get(LOGIN_COOKIE), web.config.reviewers)
    if check.login is None:
        why = "your login expired" if check.status == "expired" else "you are not logged in"
        raise PageError(401, "Login needed", f"{why}; log in again (nothing was done)")
    if not same_secret(csrf, check.login.csrf):
        raise PageError(
            403,
            "Stale form",
            "the form's CSRF secret does not match your login (an old page, or a form from "
            "elsewhere); reload the page and try again (nothing was done)",
        )
    return Viewer(check.login.reviewer, check.login.csrf)


# -- login -------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str = "/", expired: int = 0) -> Response:
    web = _web(request)
    value, csrf = web.signer.form_cookie()
    response = web.page(
        request,
        "login.html",
        Viewer(read_only=web.read_only),
        next=_local(next),
        csrf=csrf,
        expired=bool(expired),
        error=None,
    )
    _set_cookie(response, FORM_COOKIE, value, 3600)
    return response


@router.post("/login")
def login(
    request: Request, token: FormText = "", csrf: FormText = "", next: FormText = "/"
) -> Response:
    web = _web(request)
    _same_origin(request)
    if web.read_only:
        raise PageError(403, "Read-only", "no reviewer is configured: there is nobody to log in")
    if not same_secret(csrf, web.signer.form_csrf(request.cookies.get(FORM_COOKIE))):
        raise PageError(403, "Stale form", "the login form expired; reload it and try again")
    reviewer = reviewer_for_token(token, web.config.reviewers)
    if reviewer is None:
        value, fresh = web.signer.form_cookie()
        response: Response = web.page(
            request,
            "login.html",
            Viewer(),
            401,
            next=_local(next),
            csrf=fresh,
            expired=False,
            error="that token is not one of the configured reviewers' tokens",
        )
        _set_cookie(response, FORM_COOKIE, value, 3600)
        return response
    seconds = web.config.login_seconds
    value, _ = web.signer.login_cookie(reviewer, token_hash(token.strip()), seconds)
    response = RedirectResponse(_local(next), status_code=303)
    _set_cookie(response, LOGIN_COOKIE, value, int(seconds))
    response.delete_cookie(FORM_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: FormText = "") -> Response:
    _reviewer(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def _set_cookie(response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name, value, max_age=seconds, path="/", httponly=True, samesite="strict", secure=False
    )


def _local(path: str) -> str:
    """Only a path of this site (no open redirect to another host)."""
    ok = path.startswith("/") and not path.startswith("//") and "\\" not in path
    return path if ok else "/"


# -- decisions ---------------------------------------------------------------------------
@router.post("/items/{item_id}/decide")
def decide_item(
    request: Request,
    item_id: str,
    verdict: Annotated[Verdict, Form()],
    sha256: SeenSha256,
    csrf: FormText = "",
    comment: FormText = "",
) -> Response:
    reviewer = _reviewer(request, csrf).reviewer
    web = _web(request)
    comment = normalise_edit(comment).strip()
    assert reviewer is not None
    kind = check_decision_inputs(item_id, verdict, reviewer, comment)
    runs, key = web.config.runs_dir, web.config.key_file
    if kind == "proposal":
        with _outdated_form():
            decide(runs, item_id, verdict, reviewer, comment, expected_sha256=sha256, key_file=key)
        return RedirectResponse(f"/proposals/{item_id}?decided={verdict}", status_code=303)

    def decide_finding(store: Any) -> None:
        with _outdated_form():
            decide(
                runs,
                item_id,
                verdict,
                reviewer,
                comment,
                expected_sha256=sha256,
                store=store,
                key_file=key,
            )

    web.with_store(decide_finding)
    return RedirectResponse(f"/findings/{item_id}?decided={verdict}", status_code=303)


# Several items at once: each checkbox names an item and the sha256 the list showed for it.
PickedItem = Annotated[list[str], Form(max_length=200)]
_PICKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._:-]{0,127})@([0-9a-f]{64})$")


@router.post("/items/decide-batch")
def decide_batch(
    request: Request,
    verdict: Annotated[Verdict, Form()],
    item: PickedItem,
    csrf: FormText = "",
    comment: FormText = "",
) -> Response:
    """Decide the checked items one by one, each bound to the hash the list showed and audited
    as its own record; an item someone decided meanwhile (or that changed) is refused alone."""
    reviewer = _reviewer(request, csrf).reviewer
    web = _web(request)
    assert reviewer is not None
    comment = normalise_edit(comment).strip()
    picked = [_PICKED.match(value) for value in item]
    if not picked or any(m is None for m in picked):
        raise PageError(400, "Bad form", "pick items from the list (nothing was decided)")
    pairs = list(dict.fromkeys((m.group(1), m.group(2)) for m in picked if m is not None))
    for item_id, _ in pairs:
        check_decision_inputs(item_id, verdict, reviewer, comment)
    runs, key = web.config.runs_dir, web.config.key_file
    done, refused = 0, []
    for item_id, sha256 in pairs:
        try:
            if item_kind(item_id) == "proposal":
                decide(
                    runs, item_id, verdict, reviewer, comment, expected_sha256=sha256, key_file=key
                )
            else:
                web.with_store(
                    partial(_decide_finding, runs, item_id, verdict, reviewer, comment, sha256, key)
                )
            done += 1
        except _ITEM_REFUSALS:
            refused.append(item_id)
    query = urlencode([("batch", verdict), ("done", done), *[("refused", r) for r in refused]])
    return RedirectResponse(f"/?{query}", status_code=303)


def _decide_finding(
    runs: Path,
    item_id: str,
    verdict: Verdict,
    reviewer: str,
    comment: str,
    sha256: str,
    key: Path | None,
    store: Any,
) -> None:
    """One finding of a batch, on the memory's thread (`Web.with_store` passes the store)."""
    decide(
        runs, item_id, verdict, reviewer, comment, expected_sha256=sha256, store=store, key_file=key
    )


_ITEM_REFUSALS = (
    AlreadyDecidedError,
    HashMismatchError,
    ItemNotFoundError,
    ProposalExpiredError,
    ProposalFileError,
)
"""Refusals of one item of a batch (the others are still decided); anything else (the audit
log broken, the memory down) stops the batch with the app's error page."""


@contextmanager
def _outdated_form() -> Iterator[None]:
    """A decision refused because the item no longer hashes to what the page showed."""
    try:
        yield
    except HashMismatchError as exc:
        raise PageError(
            400,
            "Tampered or outdated form",
            f"{exc.args[0].split('; read it again')[0]}; reload the page and read it again "
            "(nothing was decided)",
        ) from None


@router.post("/proposals/{proposal_id}/edit")
def edit_proposal(
    request: Request,
    proposal_id: str,
    sha256: SeenSha256,
    code: FormText = "",
    csrf: FormText = "",
    comment: FormText = "",
) -> Response:
    viewer = _reviewer(request, csrf)
    web = _web(request)
    original = web.runs.proposal(proposal_id).proposal
    assert original is not None and viewer.reviewer is not None
    with _outdated_form():
        edited, _ = approve_with_edits(
            web.config.runs_dir,
            original,
            normalise_edit(code),
            viewer.reviewer,
            normalise_edit(comment).strip(),
            seen_sha256=sha256,
            key_file=web.config.key_file,
        )
    return RedirectResponse(f"/proposals/{edited.id}?decided=edited", status_code=303)
