"""The scorer service over real HTTP on 127.0.0.1, with a real `Scorer` on a temporary ledger:
the token check, the same answers as in-process, budgets the service enforces (also for
concurrent requests at the boundary), public exports, loopback only, and `aar scorer serve`."""

from __future__ import annotations

import io
import math
import os
import signal
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aar.bench import (
    BudgetExceededError,
    Evaluator,
    InvalidPredictionsError,
    UnknownTaskError,
    export_public,
)
from aar.errors import UsageError
from aar.scorer import (
    RemoteScorer,
    Scorer,
    ScorerAuthError,
    ScoreRequest,
    ScorerRequestError,
    ScorerService,
    ScorerUnavailableError,
    TeamBudget,
    TeamLedgerStore,
    read_token,
)
from aar.scorer._client import _unzip
from aar.scorer.attacks import split_targets

TASK = "breast-cancer"  # the smallest built-in task: 86 test rows
TOKEN = "0123456789abcdef" * 4
EVALUATORS: dict[tuple[str, int], Evaluator] = {}
"""Built once for the module: an evaluator does not depend on the ledger it scores for."""


@pytest.fixture(scope="module")
def naive() -> np.ndarray:
    return split_targets(TASK, 42)["test"].honest["naive"]


def _request(probs: np.ndarray, **kw: Any) -> ScoreRequest:
    fields: dict[str, Any] = {"task": TASK, "seed": 42, "method": "m", "code_sha256": "x"}
    return ScoreRequest.model_validate({"account": "a", **fields, **kw, "probs": probs.tolist()})


def _flipped(probs: np.ndarray, rows: int) -> np.ndarray:
    out = probs.copy()
    out[:rows] = out[:rows, ::-1]
    return out


def _scorer(directory: Path) -> Scorer:
    return Scorer(directory, evaluators=EVALUATORS)


def _serve(ledger: Path, budgets: TeamBudget | None = None, **kw: Any) -> ScorerService:
    return ScorerService(_scorer(ledger), TOKEN, budgets, **kw).start()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ScorerService]:
    with ScorerService(_scorer(tmp_path / "ledger"), TOKEN) as running:
        yield running


def _submissions(ledger: Path) -> int:
    return _scorer(ledger).pool_status(TASK).submissions


def test_a_request_without_the_token_is_refused_and_costs_nothing(
    service: ScorerService, tmp_path: Path, naive: np.ndarray
) -> None:
    body = _request(naive, budget=5).model_dump_json()
    headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer " + "f" * 64},
        {"Authorization": TOKEN},
    ]
    with httpx.Client(base_url=service.url, trust_env=False) as client:
        for h in headers:
            for method, path in (
                ("POST", "/score"),
                ("GET", "/health"),
                ("GET", f"/public/{TASK}/42"),
            ):
                answer = client.request(method, path, content=body, headers=h)
                assert answer.status_code == 401, (path, h)
                assert answer.json() == {
                    "error": "missing or wrong scorer token",
                    "kind": "ScorerAuthError",
                }
        assert client.get("/docs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    with RemoteScorer(service.url, "e" * 64) as wrong, pytest.raises(ScorerAuthError):
        wrong.score(_request(naive, budget=5))
    assert _submissions(tmp_path / "ledger") == 0
    assert _scorer(tmp_path / "ledger").account_used("a") == 0


def _same_fields(remote: Any, local: Any, ids: dict[str, str]) -> None:
    """Equal but for the record ids (each ledger names its own) and the time."""
    a = remote.model_dump(exclude={"id", "timestamp"})
    b = local.model_dump(exclude={"id", "timestamp"})
    for theirs, ours in ids.items():
        a["repeat_of"] = ours if a["repeat_of"] == theirs else a["repeat_of"]
        a["flags"] = [f.replace(theirs, ours) for f in a["flags"]]
    ids[remote.id] = local.id
    assert a.keys() == b.keys()
    for key in a:
        if key == "metrics":
            assert a[key].keys() == b[key].keys()
            for m in a[key]:
                x, y = a[key][m], b[key][m]
                assert (math.isnan(x) and math.isnan(y)) or x == y, m
        else:
            assert a[key] == b[key], key


def test_remote_answers_are_the_local_scorers_and_a_retry_is_free(
    service: ScorerService, tmp_path: Path, naive: np.ndarray
) -> None:
    local = _scorer(tmp_path / "local")
    cheat = np.eye(2)[split_targets(TASK, 42)["test"].truth]
    cheat = _flipped(cheat, 1)
    sequence = [naive, cheat, cheat, _flipped(cheat, 2)]
    ids: dict[str, str] = {}
    with RemoteScorer(service.url, TOKEN) as remote:
        for i, probs in enumerate(sequence):
            request = _request(probs, method=f"m{i}", budget=10, request_id=f"r{i}")
            there, here = remote.score(request), local.score(request)
            _same_fields(there.record, here.record, ids)
            assert (there.charged, there.account_used, there.hard) == (True, i + 1, here.hard)
            assert there.pool_answers_left == here.pool_answers_left
        again = remote.score(_request(cheat, method="m1", budget=10, request_id="r1"))
        assert not again.charged and again.account_used == len(sequence)
        assert remote.health().status == "ok"
        pools = remote.pools()
    assert [p["task"] for p in pools] == [TASK] and pools[0]["submissions"] == len(sequence)
    assert _submissions(tmp_path / "ledger") == len(sequence)


def test_the_per_account_cap_is_the_servers_not_the_clients(
    tmp_path: Path, naive: np.ndarray
) -> None:
    budgets = TeamBudget(per_account_evals=2)
    with (
        _serve(tmp_path / "ledger", budgets) as running,
        RemoteScorer(running.url, TOKEN) as remote,
    ):
        first = remote.score(_request(naive, budget=None))
        assert first.record.budget_total == 2 and first.charged
        assert remote.score(_request(_flipped(naive, 1), budget=10**6)).record.budget_total == 2
        with pytest.raises(BudgetExceededError, match="budget of 2 "):
            remote.score(_request(_flipped(naive, 2), budget=None))
        other = remote.score(_request(naive, account="b", budget=1))  # a smaller own budget
        assert other.record.budget_total == 1
    assert _scorer(tmp_path / "ledger").account_used("a") == 2


def _race(url: str, requests: list[ScoreRequest]) -> tuple[int, int]:
    """Submit all at once from their own threads; (answered, refused for budget)."""

    def one(request: ScoreRequest) -> bool:
        with RemoteScorer(url, TOKEN) as remote:
            try:
                remote.score(request)
            except BudgetExceededError:
                return False
            return True

    with ThreadPoolExecutor(len(requests)) as pool:
        outcomes = list(pool.map(one, requests))
    return sum(outcomes), len(outcomes) - sum(outcomes)


def test_the_team_total_holds_for_concurrent_requests_and_a_restart(
    tmp_path: Path, naive: np.ndarray
) -> None:
    ledger = tmp_path / "ledger"
    budgets = TeamBudget(total_evals=3, team="t1")
    _scorer(ledger).evaluator(TASK, 42)  # built before the race, so the race is the ledger's
    with _serve(ledger, budgets) as running:
        accounts = [_request(_flipped(naive, i), account=f"r{i}") for i in range(8)]
        assert _race(running.url, accounts) == (3, 5)
        with RemoteScorer(running.url, TOKEN) as remote:  # a holdout score is not the team's
            held = split_targets(TASK, 42)["holdout"].honest["naive"]
            assert (
                remote.score(_request(held, split="holdout", account="r0")).record.split
                == "holdout"
            )
    with (
        _serve(ledger, budgets) as again,
        RemoteScorer(again.url, TOKEN) as remote,
        pytest.raises(BudgetExceededError, match="team's evaluation budget of 3"),
    ):
        remote.score(_request(naive, account="new"))
    store = TeamLedgerStore(_scorer(ledger).store, budgets)
    with store.locked():
        assert store.team_used() == 3
    assert _submissions(ledger) == 3 + 1  # and the holdout score


def test_concurrent_requests_of_one_account_stop_at_its_cap(
    tmp_path: Path, naive: np.ndarray
) -> None:
    _scorer(tmp_path / "ledger").evaluator(TASK, 42)
    with _serve(tmp_path / "ledger", TeamBudget(per_account_evals=2)) as running:
        same = [_request(_flipped(naive, i), request_id=f"q{i}") for i in range(6)]
        assert _race(running.url, same) == (2, 4)
    assert _scorer(tmp_path / "ledger").account_used("a") == 2


def test_invalid_predictions_and_unknown_tasks_cost_nothing(
    service: ScorerService, tmp_path: Path, naive: np.ndarray
) -> None:
    with RemoteScorer(service.url, TOKEN) as remote:
        with pytest.raises(InvalidPredictionsError):
            remote.score(_request(naive[:10], budget=3))
        with pytest.raises(InvalidPredictionsError):
            remote.score(_request(np.full_like(naive, np.nan), budget=3))
        with pytest.raises(InvalidPredictionsError):
            remote.score(_request(naive, method=" ", budget=3))
        with pytest.raises(UnknownTaskError):
            remote.score(_request(naive, task="no-such-task", budget=3))
        with pytest.raises(UnknownTaskError):
            remote.fetch_public("no-such-task", 1, tmp_path / "x")
    assert _submissions(tmp_path / "ledger") == 0
    assert _scorer(tmp_path / "ledger").account_used("a") == 0


def test_a_body_over_the_cap_is_refused(tmp_path: Path, naive: np.ndarray) -> None:
    with (
        _serve(tmp_path / "ledger", max_body=1000) as running,
        RemoteScorer(running.url, TOKEN) as remote,
        pytest.raises(ScorerRequestError, match="over the 1000-byte limit"),
    ):
        remote.score(_request(naive, budget=3))
    assert _submissions(tmp_path / "ledger") == 0


def test_fetch_public_gives_the_files_export_public_writes(
    service: ScorerService, tmp_path: Path
) -> None:
    with RemoteScorer(service.url, TOKEN) as remote:
        fetched = remote.fetch_public(TASK, 43, tmp_path / "fetched")
        again = remote.fetch_public(TASK, 43, tmp_path / "again")  # from the service's cache
    local = export_public(TASK, 43, tmp_path / "local")
    names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert names and "manifest.json" in names
    for root in (fetched, again):
        got = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert got == names
        for name in names:
            assert (root / name).read_bytes() == (local / name).read_bytes(), name


def _zip(name: str, *, link: bool = False) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        info = zipfile.ZipInfo(name)
        if link:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd" if link else "x")
    return data.getvalue()


@pytest.mark.parametrize(
    ("name", "link"), [("../escape", False), ("/abs", False), ("a/../../b", False), ("ln", True)]
)
def test_an_unsafe_archive_is_not_unpacked(tmp_path: Path, name: str, link: bool) -> None:
    with pytest.raises(ScorerRequestError):
        _unzip(_zip(name, link=link), tmp_path / "out", 1 << 20)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_an_archive_over_the_size_cap_is_not_unpacked(tmp_path: Path) -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"0" * 1000)  # 1000 bytes that compress to a few
    with pytest.raises(ScorerRequestError, match="over 10 bytes"):
        _unzip(data.getvalue(), tmp_path / "out", 10)
    assert not (tmp_path / "out").exists()


def test_only_loopback_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--allow-remote"):
        ScorerService(_scorer(tmp_path / "ledger"), TOKEN, host="0.0.0.0")
    with pytest.raises(UsageError, match="at least 16"):
        ScorerService(_scorer(tmp_path / "ledger"), "short")
    remote = ScorerService(_scorer(tmp_path / "ledger"), TOKEN, host="0.0.0.0", allow_remote=True)
    assert remote.url.startswith("http://0.0.0.0:")
    remote.stop()


def test_an_unreachable_service_is_one_clear_error(
    service: ScorerService, naive: np.ndarray
) -> None:
    url = service.url
    service.stop()
    with (
        RemoteScorer(url, TOKEN, timeout=2, retries=1) as remote,
        pytest.raises(ScorerUnavailableError, match="unreachable"),
    ):
        remote.score(_request(naive))


def test_the_token_file_is_private_and_made_once(tmp_path: Path) -> None:
    path = tmp_path / "d" / "token"
    token = read_token(path, create=True)
    assert len(token) == 64 and read_token(path, create=True) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        read_token(path)


@pytest.mark.timeout(60)
def test_aar_scorer_serve_answers_health_and_stops_on_sigint(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-c",
        "from aar.cli import main; main()",
        "scorer",
        "serve",
        "--token-file",
        str(token_file),
        "--per-researcher-evals",
        "3",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("scorer serving ledger "), first  # else see stderr
        url = first.rsplit(" on ", 1)[1].strip()
        assert proc.stdout.readline().strip() == f"token file: {token_file}"
        token = read_token(token_file)
        answer = httpx.get(
            f"{url}/health", headers={"Authorization": f"Bearer {token}"}, trust_env=False
        )
        assert answer.status_code == 200 and answer.json()["budgets"]["per_account_evals"] == 3
        assert httpx.get(f"{url}/health", trust_env=False).status_code == 401
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "scorer stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
