"""Findings as reviewable items: audited like proposals, then applied to a real findings memory."""

from __future__ import annotations

import json

import pytest
from review_support import SESSION_A, make_proposal, session_dir

from aar.config import MemorySettings, Settings
from aar.memory import Finding, FindingFilter, FindingsStore, open_store
from aar.review import (
    AlreadyDecidedError,
    ItemNotFoundError,
    MemorySyncError,
    approve,
    finding_sha256,
    item_history,
    list_items,
    pending,
    reject,
)


def finding(**overrides) -> Finding:
    data = {
        "summary": "logconf raised PGR on digits-ge5 by 0.12",
        "hypothesis": "the student can overrule weak label errors",
        "method": "logconf aux_coef=0.5",
        "task": "digits-ge5",
        "verdict": "supported",
        "session_id": SESSION_A,
        "round": 1,
        "metrics": {"pgr_acc_mean": 0.42, "pgr_acc_se": 0.03},
        "eval_record_ids": ["r-1", "r-2"],
    }
    return Finding.model_validate(data | overrides)


@pytest.fixture
def runs(runs):
    """The runs directory with session A's directory in it."""
    session_dir(runs, SESSION_A)
    return runs


@pytest.fixture
def store(tmp_path) -> FindingsStore:
    """A real local chromadb store with the fast offline embedder."""
    return open_store(Settings(memory=MemorySettings(path=tmp_path / "memory", embedding="static")))


def test_a_finding_decision_is_audited_then_applied_to_the_memory(runs, store) -> None:
    good, weak = finding(id="f-good"), finding(id="f-weak", summary="bootstrap did nothing")
    store.add_many([good, weak])
    assert {i.id for i in pending(runs, SESSION_A, store=store)} == {"f-good", "f-weak"}
    decision = approve(runs, "f-good", "ana", "checked the records", store=store)
    assert (decision.item, decision.sha256) == ("finding", finding_sha256(store.get("f-good")))
    reject(runs, "f-weak", "bob", "one seed only", store=store)
    got = store.get("f-good").review
    assert (got.status, got.reviewer, got.comment) == ("approved", "ana", "checked the records")
    assert store.get("f-weak").review.status == "rejected"
    assert [f.id for f in store.list_findings(FindingFilter(status="approved"))] == ["f-good"]
    assert pending(runs, SESSION_A, store=store) == []
    statuses = {i.id: i.status for i in list_items(runs, store=store)}
    assert statuses == {"f-good": "approved", "f-weak": "rejected"}


def test_a_finding_is_decided_once(runs, store) -> None:
    store.add(finding(id="f-once"))
    approve(runs, "f-once", "ana", store=store)
    with pytest.raises(AlreadyDecidedError, match="finding f-once was already approved by ana"):
        reject(runs, "f-once", "bob", "no", store=store)
    assert store.get("f-once").review.status == "approved"
    assert [r.outcome for r in item_history(runs, "f-once")] == ["recorded", "refused"]


def test_a_lost_memory_update_is_reapplied_from_the_audit_log(runs, store, monkeypatch) -> None:
    """The memory fails after the decision was audited: the next attempt applies it."""
    store.add(finding(id="f-lost"))

    def broken(*args, **kwargs):
        from aar.memory import CorruptStoreError

        raise CorruptStoreError("disk full")

    with monkeypatch.context() as mp:
        mp.setattr(store, "update_review", broken)
        with pytest.raises(MemorySyncError, match="in the audit log, but the findings memory"):
            approve(runs, "f-lost", "ana", "fine", store=store)
    assert store.get("f-lost").review.status == "pending"
    with pytest.raises(AlreadyDecidedError):
        approve(runs, "f-lost", "bob", store=store)
    review = store.get("f-lost").review
    assert (review.status, review.reviewer, review.comment) == ("approved", "ana", "fine")


def test_a_finding_edited_after_approval_is_void_and_keeps_its_status(runs, store) -> None:
    store.add(finding(id="f-edit"))
    approve(runs, "f-edit", "ana", store=store)
    store.delete("f-edit")
    store.add(finding(id="f-edit", summary="logconf raised PGR on digits-ge5 by 0.50"))
    assert [i.status for i in list_items(runs, store=store)] == ["void"]
    with pytest.raises(AlreadyDecidedError):
        approve(runs, "f-edit", "ana", store=store)
    assert store.get("f-edit").review.status == "pending"  # the approval covered other content


def test_unknown_findings_and_a_missing_memory(runs, store, tmp_path, monkeypatch) -> None:
    with pytest.raises(ItemNotFoundError, match="no proposal or finding f-nope") as unknown:
        approve(runs, "f-nope", "ana", store=store)
    assert f"findings memory at {store.location})" in str(unknown.value)  # once, not doubled
    from aar.config import get_settings

    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "no-memory"))
    get_settings.cache_clear()
    with pytest.raises(ItemNotFoundError, match=r"findings memory .* does not exist"):
        approve(runs, "f-nope", "ana")
    assert not (tmp_path / "no-memory").exists()


def test_deciding_proposals_never_imports_chromadb(runs, tmp_path) -> None:
    import subprocess
    import sys

    p = make_proposal(runs)
    script = (
        "import sys; from pathlib import Path; from aar.cli import app\n"
        f"try: app(['review', 'approve', '{p.id}', '--sha256', '{p.sha256[:12]}', "
        f"'--runs-dir', '{runs}'])\n"
        "except SystemExit as e: assert e.code in (0, None), e.code\n"
        "print('chromadb' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False False", out


def test_the_cli_lists_shows_and_decides_findings(runs, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from aar.cli import app
    from aar.config import get_settings

    monkeypatch.setenv("AAR_MEMORY_PATH", str(tmp_path / "memory"))
    monkeypatch.setenv("AAR_MEMORY__EMBEDDING", "static")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    open_store(get_settings()).add(finding(id="f-cli"))

    def aar(*args: str):
        get_settings.cache_clear()
        return CliRunner().invoke(app, ["review", *args, "--runs-dir", str(runs)])

    listed = json.loads(aar("list", "--json").stdout)
    assert listed == {"items": [], "damaged": []}  # proposals only
    items = json.loads(aar("list", "--findings", "--json").stdout)["items"]
    assert [(i["kind"], i["id"], i["status"]) for i in items] == [("finding", "f-cli", "pending")]
    assert "finding: logconf raised PGR" in aar("list", "--findings").stdout
    sha = items[0]["sha256"]
    result = aar("approve", "f-cli", "-m", "records check out", "--sha256", sha[:12])
    assert result.exit_code == 0 and "approved finding f-cli" in result.stdout
    shown = json.loads(aar("show", "f-cli", "--json").stdout)
    assert shown["proposal"] is None and shown["finding"]["review"]["status"] == "approved"
    assert shown["item"]["status"] == "approved" and len(shown["history"]) == 1
    assert "logconf raised PGR" in aar("show", "f-cli").stdout
