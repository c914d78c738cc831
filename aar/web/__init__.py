"""The reviewers' web page (`aar serve`): reports, proposals, the audit log and the findings
memory, with decisions that go through the same hash-bound review gate as `aar review`."""

from aar.web._app import PageError, WebConfig, create_app
from aar.web._auth import new_token, reviewer_for_token, token_hash
from aar.web._edits import EDIT_NOTE, approve_with_edits, edited_from, normalise_edit, replaced_by
from aar.web._server import ServeError, bind, serve

__all__ = [
    "EDIT_NOTE",
    "PageError",
    "ServeError",
    "WebConfig",
    "approve_with_edits",
    "bind",
    "create_app",
    "edited_from",
    "new_token",
    "normalise_edit",
    "replaced_by",
    "reviewer_for_token",
    "serve",
    "token_hash",
]
