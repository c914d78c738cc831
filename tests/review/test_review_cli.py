"""`aar review`: list, show, approve, reject, verify; the documented `--json`; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from review_support import (
    CODE,
    SESSION_A,
    SESSION_B,
    audit_lines,
    edit_record,
    expired_proposal,
    make_proposal,
    write_audit_lines,
)
from typer.testing import CliRunner

from aar.cli import app
from aar.config import get_settings
from aar.review import AUDIT_LOG

AAR = Path(sys.executable).parent / "aar"
ITEM_KEYS = {
    "kind", "id", "session_id", "round", "status", "sha256", "summary", "created_at",
    "expires_at", "decision", "problem",
}  # fmt: skip
DECISION_KEYS = {
    "item", "item_id", "session_id", "sha256", "decision", "reviewer", "comment", "decided_at",
}  # fmt: skip


def aar(runs: Path, *args: str, reviewer: str = "ana"):
    """Run `aar review ARGS --runs-dir RUNS` in-process as `reviewer`."""
    os.environ["AAR_REVIEWER"] = reviewer
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["review", *args, "--runs-dir", str(runs)])
    finally:
        get_settings.cache_clear()


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_list_empty_and_json(runs) -> None:
    assert aar(runs, "list").stdout.strip() == "nothing to review"
    result = aar(runs, "list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"items": [], "damaged": []}


def test_list_names_a_damaged_proposal_and_still_lists_the_others(runs) -> None:
    good, bad = make_proposal(runs, SESSION_A), make_proposal(runs, SESSION_B)
    bad_file = runs / SESSION_B / "proposals" / f"{bad.id}.json"
    bad_file.write_text('{"id": [')  # e.g. a disk that filled up mid-write, or a stray edit
    result = aar(runs, "list", "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [item["id"] for item in listed["items"]] == [good.id]
    assert [d["path"] for d in listed["damaged"]] == [str(bad_file)]
    assert f"warning: skipped {bad.id}: proposal file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "is damaged" in error_line(aar(runs, "show", bad.id))  # naming it is still an error


def test_list_shows_status_and_filters(runs) -> None:
    a, b = make_proposal(runs, SESSION_A), make_proposal(runs, SESSION_B)
    old = expired_proposal(runs, SESSION_A, code=CODE + "# old\n")
    assert aar(runs, "approve", a.id, "--sha256", a.sha256[:12]).exit_code == 0
    table = aar(runs, "list").stdout
    assert a.id in table and b.id in table and "approved (ana)" in table and "expired" in table
    items = json.loads(aar(runs, "list", "--json").stdout)["items"]
    assert all(set(item) == ITEM_KEYS for item in items)
    assert {i["id"]: i["status"] for i in items} == {
        a.id: "approved",
        b.id: "pending",
        old.id: "expired",
    }
    approved = next(i for i in items if i["id"] == a.id)
    assert set(approved["decision"]) == DECISION_KEYS and approved["decision"]["reviewer"] == "ana"
    only = json.loads(aar(runs, "list", "--json", "--status", "pending").stdout)["items"]
    assert [i["id"] for i in only] == [b.id]
    in_b = json.loads(aar(runs, "list", "--json", "--session", SESSION_B).stdout)["items"]
    assert [i["id"] for i in in_b] == [b.id]


def test_show_prints_everything_a_reviewer_needs(runs) -> None:
    p = make_proposal(runs, code=CODE + "x = 1\u202e # reversed\n", estimated_usd=0.5)
    out = aar(runs, "show", p.id, "--code").stdout
    for needle in (p.id, p.sha256, "logconf helped", "10 evaluations, 2000 tokens, USD 0.50",
                   "sweep aux_coef", "\\u{202e}", "no decision yet", "expires"):  # fmt: skip
        assert needle in out, needle
    compact = aar(runs, "show", p.id).stdout  # the code only on request, its hidden chars said
    assert "sweep aux_coef" not in compact and f"aar review show {p.id} --code" in compact
    assert "1 invisible character(s)" in compact and p.sha256 in compact
    assert "\u202e" not in out  # a bidi override is shown escaped, never applied
    aar(runs, "approve", p.id, "--sha256", p.sha256[:12], "-m", "ok")
    aar(runs, "reject", p.id, "-m", "changed my mind", reviewer="bob")
    data = json.loads(aar(runs, "show", p.id, "--json").stdout)
    assert set(data) == {"item", "proposal", "finding", "history"}
    assert data["finding"] is None and data["proposal"]["code"] == p.code
    assert data["item"]["status"] == "approved"
    assert [(h["outcome"], h["decision"]["reviewer"]) for h in data["history"]] == [
        ("recorded", "ana"),
        ("refused", "bob"),
    ]
    assert set(data["history"][0]) == {"seq", "outcome", "reason", "decision", "prev_mac", "mac"}


def test_approve_and_reject(runs) -> None:
    a, b = make_proposal(runs), make_proposal(runs, code=CODE + "#b\n")
    result = aar(runs, "approve", a.id, "--sha256", a.sha256[:12], "-m", "good")
    assert result.exit_code == 0 and f"approved proposal {a.id}" in result.stdout
    result = aar(runs, "reject", b.id, "-m", "no", "--json")
    decision = json.loads(result.stdout)
    assert set(decision) == DECISION_KEYS
    assert (decision["decision"], decision["reviewer"], decision["comment"]) == (
        "reject",
        "ana",
        "no",
    )


def test_a_second_decision_is_one_line_exit_1_and_audited(runs) -> None:
    p = make_proposal(runs)
    aar(runs, "approve", p.id, "--sha256", p.sha256[:12])
    result = aar(runs, "reject", p.id, "-m", "no", reviewer="bob")
    assert result.exit_code == 1
    assert "already approved by ana" in error_line(result)
    assert len(audit_lines(runs)) == 3  # header, the decision, the refused attempt


def test_expired_is_one_line_exit_1(runs) -> None:
    p = expired_proposal(runs)
    result = aar(runs, "approve", p.id, "--sha256", p.sha256[:12])
    assert result.exit_code == 1 and "automatic rejection was recorded" in error_line(result)
    items = json.loads(aar(runs, "list", "--json").stdout)["items"]
    assert items[0]["status"] == "rejected" and items[0]["decision"]["reviewer"] == "aar"


def test_verify(runs) -> None:
    p = make_proposal(runs)
    aar(runs, "approve", p.id, "--sha256", p.sha256[:12])
    result = aar(runs, "verify")
    assert result.exit_code == 0 and "verifies: 1 record(s)" in result.stdout
    report = json.loads(aar(runs, "verify", "--json").stdout)
    assert report == {
        "ok": True,
        "path": str(runs / AUDIT_LOG),
        "records": 1,
        "bad_line": None,
        "problem": None,
        "torn_tail": False,
    }
    lines = audit_lines(runs)
    write_audit_lines(runs, [lines[0], edit_record(lines[1], decision__comment="edited")])
    result = aar(runs, "verify")
    assert result.exit_code == 1
    assert "fails verification at line 2: its MAC does not match" in error_line(result)
    result = aar(runs, "verify", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["bad_line"] == 2
    q = make_proposal(runs)
    for args in (("list",), ("show", p.id), ("approve", q.id, "--sha256", q.sha256[:12])):
        result = aar(runs, *args)
        assert result.exit_code == 1 and "fails verification at line 2" in error_line(result)


def test_verify_in_a_real_process(runs) -> None:
    """The console script: exit codes as CI sees them."""
    p = make_proposal(runs)
    env = {**os.environ, "AAR_RUNS_DIR": str(runs), "AAR_REVIEWER": "ci"}
    run = [str(AAR), "review"]
    assert (
        subprocess.run(
            [*run, "approve", p.id, "--sha256", p.sha256[:12]], env=env, timeout=60
        ).returncode
        == 0
    )
    ok = subprocess.run([*run, "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    write_audit_lines(runs, audit_lines(runs)[:1])
    bad = subprocess.run([*run, "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "the last lines were removed" in bad.stderr


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("reject", "p-0123456789ab"), "reject needs a comment"),
        (("reject", "p-0123456789ab", "-m", "  "), "reject needs a comment"),
        (("approve", "p-0123456789ab", "--sha256", "0" * 12), "no proposal p-0123456789ab"),
        (("show", "p-12"), "not a proposal id"),
        (("approve", "../../etc"), "not a proposal or finding id"),
        (("list", "--status", "done"), "--status must be one of"),
        (("list", "--session", "../x"), "not a session id"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runs, args, match) -> None:
    result = aar(runs, *args)
    assert result.exit_code == 2, result.stdout
    assert match in error_line(result)
    assert list(runs.iterdir()) == []
