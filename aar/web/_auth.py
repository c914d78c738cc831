"""Reviewers' tokens, login cookies and CSRF secrets.

A reviewer logs in with a personal token: 32 random bytes, shown once by `aar review token
NAME`. The settings keep only `sha256:<hex>` of it (a 256-bit random secret needs no salt or
slow hash: nothing shorter than the token itself can be guessed). A login is a cookie the
server signs with a secret of its own process (HMAC-SHA256), so restarting `aar serve` logs
everyone out; it names the reviewer, expires, is bound to the reviewer's current token hash (a
new token ends old logins) and carries a per-login CSRF secret that every form posts back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from pydantic import BaseModel, ValidationError

TOKEN_BYTES = 32
HASH_PREFIX = "sha256:"
LOGIN_COOKIE = "aar_login"
FORM_COOKIE = "aar_form"
"""Before login: a signed CSRF secret for the login form itself."""
FORM_COOKIE_SECONDS = 3600


def new_token() -> str:
    """A fresh personal token (URL-safe text of 32 random bytes)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the settings store for `token`: 'sha256:' and the hex digest of its UTF-8 bytes."""
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def reviewer_for_token(token: str, reviewers: dict[str, str]) -> str | None:
    """The reviewer whose stored hash matches `token`, comparing every hash in constant time
    (no early exit, so timing tells nothing about which entry came close)."""
    digest = token_hash(token.strip())
    found = None
    for name, stored in reviewers.items():
        if hmac.compare_digest(digest.encode(), stored.encode()):
            found = name
    return found


class Login(BaseModel):
    """What a login cookie says, once its signature checked."""

    reviewer: str
    csrf: str
    expires: float
    token: str
    """The first 16 hex digits of the reviewer's token hash at login (a new token ends it)."""


class Signer:
    """Signs and checks cookies with one process-wide random secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, purpose: str, body: bytes) -> str:
        return hmac.new(self._secret, purpose.encode() + b"\n" + body, hashlib.sha256).hexdigest()

    def sign(self, purpose: str, payload: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
        return f"{body}.{self._mac(purpose, body.encode())}"

    def unsign(self, purpose: str, value: str | None) -> dict[str, object] | None:
        """The payload of a value this signer made for `purpose`, else None."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    # -- logins --------------------------------------------------------------------------
    def login_cookie(self, reviewer: str, token_digest: str, seconds: float) -> tuple[str, Login]:
        login = Login(
            reviewer=reviewer,
            csrf=secrets.token_urlsafe(32),
            expires=time.time() + seconds,
            token=_short(token_digest),
        )
        return self.sign(LOGIN_COOKIE, login.model_dump()), login

    def read_login(self, value: str | None, reviewers: dict[str, str]) -> LoginCheck:
        """The login in a cookie: valid, expired, or absent (unsigned, damaged, revoked)."""
        data = self.unsign(LOGIN_COOKIE, value)
        if data is None:
            return LoginCheck(status="absent" if not value else "invalid")
        try:
            login = Login.model_validate(data)
        except ValidationError:
            return LoginCheck(status="invalid")
        stored = reviewers.get(login.reviewer)
        if stored is None or not hmac.compare_digest(_short(stored), login.token):
            return LoginCheck(status="invalid")
        if login.expires <= time.time():
            return LoginCheck(status="expired")
        return LoginCheck(status="valid", login=login)

    # -- the login form's own CSRF secret ------------------------------------------------
    def form_cookie(self) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(32)
        payload = {"csrf": csrf, "expires": time.time() + FORM_COOKIE_SECONDS}
        return self.sign(FORM_COOKIE, payload), csrf

    def form_csrf(self, value: str | None) -> str | None:
        data = self.unsign(FORM_COOKIE, value)
        if data is None or not isinstance(data.get("csrf"), str):
            return None
        expires = data.get("expires")
        if not isinstance(expires, int | float) or expires <= time.time():
            return None
        return str(data["csrf"])


class LoginCheck(BaseModel):
    status: str
    """valid | expired | invalid | absent"""
    login: Login | None = None


def same_secret(sent: str | None, expected: str | None) -> bool:
    """A CSRF field against the secret it must equal (constant time; missing never matches)."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def _short(digest: str) -> str:
    return digest.removeprefix(HASH_PREFIX)[:16]
