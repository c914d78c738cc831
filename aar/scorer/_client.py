"""`RemoteScorer`: the scorer service's client, with the in-process `Scorer`'s `score`.

A researcher in a Dask worker scores through this and never loads labels: it sends
predictions, gets the feedback mechanism's answer, and raises the same exceptions as the local
scorer (`InvalidPredictionsError`, `BudgetExceededError`, `UnknownTaskError`). A service that
cannot be reached, or fails on its side, is a `ScorerUnavailableError`. Every request carries a
`request_id` (one is made when the caller gave none), so a retry after a timeout is answered
from the ledger and never charged twice.

The service's token file (64 hex characters, mode 0600) is read with `aar.scorer._token`.
"""

from __future__ import annotations

import io
import os
import stat
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from aar.errors import AarError, PathError
from aar.scorer._models import ScoreRequest, ScoreResponse, ScorerHealth

PUBLIC_MAX_BYTES = 4 << 30
"""The most a public export may unpack to (compressed download and unpacked files alike)."""
_RETRY_STATUS = frozenset({502, 503, 504})


class ScorerUnavailableError(AarError):
    """The scorer service could not be reached, or failed on its side (retry later)."""

    exit_code = 1


class ScorerAuthError(AarError):
    """The scorer service refused the token."""


class ScorerRequestError(AarError):
    """The scorer service refused a request for a reason with no local exception type."""


# ---------------------------------------------------------------- client


def _error_class(kind: str, status: int) -> type[AarError]:
    """The local exception of a service error (by the `kind` the service names, then by code)."""
    from aar.bench import BudgetExceededError, InvalidPredictionsError, UnknownTaskError

    known: dict[str, type[AarError]] = {
        "InvalidPredictionsError": InvalidPredictionsError,
        "BudgetExceededError": BudgetExceededError,
        "UnknownTaskError": UnknownTaskError,
    }
    by_status: dict[int, type[AarError]] = {
        401: ScorerAuthError,
        402: BudgetExceededError,
        404: UnknownTaskError,
        422: InvalidPredictionsError,
    }
    if status >= 500:
        return ScorerUnavailableError
    return known.get(kind) or by_status.get(status) or ScorerRequestError


class RemoteScorer:
    """Scores through a scorer service (`aar scorer serve`, or the team's).

    Args:
        url: the service, e.g. `http://127.0.0.1:8790`.
        token: the service token (see `read_token`).
        timeout: seconds per attempt (scoring may train a pair's ceiling once: be generous).
        retries: attempts after a connection failure, a timeout or a 502/503/504.
    """

    def __init__(self, url: str, token: str, timeout: float = 120.0, *, retries: int = 3) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.retries = retries
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            trust_env=False,  # a proxy from the environment must never see the token
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def score(self, request: ScoreRequest) -> ScoreResponse:
        """Score one submission (as `Scorer.score`); retried with the same `request_id`."""
        if request.request_id is None:
            request = request.model_copy(update={"request_id": uuid.uuid4().hex})
        body = request.model_dump_json().encode()
        response = self._call("POST", "/score", content=body)
        return ScoreResponse.model_validate_json(response.content)

    def health(self) -> ScorerHealth:
        """The service's health answer: its ledger, budgets and the task key's id."""
        return ScorerHealth.model_validate_json(self._call("GET", "/health").content)

    def pools(self) -> list[dict[str, Any]]:
        """What each task pool scored through the service's ledger has revealed so far."""
        result: list[dict[str, Any]] = self._call("GET", "/pools").json()
        return result

    def fetch_public(
        self,
        task: str,
        seed: int,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = PUBLIC_MAX_BYTES,
    ) -> Path:
        """The public export of (task, seed), as `aar.bench.export_public` writes it, in a new
        or empty `directory`. The archive is unpacked only if every member is a plain file
        inside the directory (no absolute path, no '..', no link) and it stays under `max_bytes`."""
        response = self._call("GET", f"/public/{task}/{seed}")
        if len(response.content) > max_bytes:
            raise ScorerRequestError(f"the public export of {task} is over {max_bytes} bytes")
        return _unzip(response.content, Path(directory), max_bytes)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        """One request, retried on what may be transient; errors become local exceptions."""
        import httpx

        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.request(method, path, **kw)
            except httpx.TransportError as exc:  # connect, read timeouts, resets
                if last:
                    raise ScorerUnavailableError(
                        f"scorer service {self.url} unreachable: {type(exc).__name__}: {exc}"
                    ) from None
                time.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            if response.status_code in _RETRY_STATUS and not last:
                time.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            if response.status_code >= 400:
                raise _service_error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _service_error(response: Any) -> AarError:
    """The local exception for an error answer (its one-line message, or the status)."""
    try:
        payload = response.json()
        message, kind = str(payload.get("error", "")), str(payload.get("kind", ""))
    except ValueError:
        message, kind = "", ""
    status = response.status_code
    message = " ".join((message or f"HTTP {status} {response.reason_phrase}").split())
    if status >= 500:
        message = f"scorer service failed (HTTP {status}): {message}"
    return _error_class(kind, status)(message)


def _unzip(data: bytes, directory: Path, max_bytes: int) -> Path:
    """Unpack a public export, refusing anything that could land outside `directory`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ScorerRequestError("the scorer service sent a damaged public export") from None
    members = archive.infolist()
    total = 0
    for info in members:
        name = PurePosixPath(info.filename)
        mode = info.external_attr >> 16
        if (
            name.is_absolute()
            or ".." in name.parts
            or "\\" in info.filename
            or ":" in info.filename
        ):
            raise ScorerRequestError(f"the public export holds an unsafe path {info.filename!r}")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # a link, a device
            raise ScorerRequestError(f"the public export holds a link {info.filename!r}")
        total += info.file_size
        if total > max_bytes:
            raise ScorerRequestError(f"the public export unpacks to over {max_bytes} bytes")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise PathError(f"{directory} is not a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    for info in members:
        target = directory / info.filename
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(target, "xb") as dst:
            remaining = info.file_size
            while chunk := src.read(1 << 20):
                remaining -= len(chunk)
                if remaining < 0:  # a header that lies about the size
                    raise ScorerRequestError(f"{info.filename!r} is larger than its header says")
                dst.write(chunk)
    return directory
