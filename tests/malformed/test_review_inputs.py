"""`aar review` with bad input: one error line, the right exit code, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from malformed_support import Case, case_id, check, run_cli, snapshot, write_files

from aar.hashing import content_sha256

SESSION = "s-20261201-120000-aaaaaa"
PID = "p-0123456789ab"
CODE = "# %%\nprint('sweep')\n"
PROPOSAL = {
    "id": PID,
    "session_id": SESSION,
    "round": 1,
    "rationale": "sweep the aux coefficient",
    "code": CODE,
    "sha256": content_sha256(CODE),
    "follows": None,
    "estimated_evaluations": 5,
    "estimated_tokens": 1000,
    "estimated_usd": None,
    "created_at": "2026-12-01T12:00:00Z",
    "expires_at": "2099-01-01T00:00:00Z",
}
PATH = f"runs/{SESSION}/proposals/{PID}.json"
SHA = content_sha256(CODE)[:12]
LOGGED = "\n".join(
    json.dumps(line)
    for line in (
        {"aar_log": "session-events", "version": 1},
        {"seq": 1, "at": "2026-12-01T12:00:00Z", "kind": "proposal", "round": 1,
         "data": {"id": PID, "sha256": content_sha256(CODE), "path": f"{PID}.json"}},
    )
) + "\n"  # fmt: skip
"""The session's events.jsonl as a session writes it when it proposes PID."""
GOOD = {PATH: json.dumps(PROPOSAL), f"runs/{SESSION}/events.jsonl": LOGGED}
APPROVE = ("review", "approve", PID, "--sha256", SHA)


def proposal_file(**changes: object) -> dict[str, str]:
    return {PATH: json.dumps(PROPOSAL | changes)}


CASES = [
    Case("unknown-id", ("review", "approve", "p-aaaaaaaaaaaa", "--sha256", SHA),
         "no proposal p-aaaaaaaaaaaa", files=GOOD),
    Case("unknown-id-show", ("review", "show", "p-aaaaaaaaaaaa"), "no proposal", files=GOOD),
    Case("short-proposal-id", ("review", "approve", "p-12"), "not a proposal id"),
    Case("path-as-id", ("review", "approve", "../../etc/passwd"), "not a proposal or finding id"),
    Case("empty-id", ("review", "show", ""), "not a proposal or finding id"),
    Case("reject-without-comment", ("review", "reject", PID), "needs a comment", files=GOOD),
    Case("reject-blank-comment", ("review", "reject", PID, "-m", " \t"), "needs a comment",
         files=GOOD),
    Case("comment-too-long", ("review", "approve", PID, "-m", "x" * 5000), "at most 4000",
         files=GOOD),
    Case("damaged-proposal", APPROVE, "is damaged",
         files={PATH: "{not json"}),
    Case("binary-proposal", ("review", "show", PID), "is damaged", files={PATH: b"\xff\x00"}),
    Case("tampered-code", APPROVE, "does not match its code",
         files=proposal_file(code=CODE + "import os\n")),
    Case("unknown-key", APPROVE, "unknown key",
         files=proposal_file(approved=True)),
    Case("copied-into-session", APPROVE, "copied from another session",
         files={PATH.replace(SESSION, "s-20261201-130000-bbbbbb"): json.dumps(PROPOSAL)}),
    Case("in-two-sessions", APPROVE, "appears in several sessions",
         files={**GOOD, PATH.replace(SESSION, "s-copy"): json.dumps(PROPOSAL)}),
    Case("runs-dir-missing", ("review", "list", "--runs-dir", "{ws}/nope"), "does not exist"),
    Case("runs-dir-a-file", ("review", "verify"), "not a directory",
         files={"afile": "x"}, env={"AAR_RUNS_DIR": "{ws}/afile"}),
    Case("bad-status", ("review", "list", "--status", "done"), "--status must be one of"),
    Case("bad-session", ("review", "list", "--session", "../x"), "not a session id",
         files=GOOD),
    Case("unknown-session", ("review", "list", "--session", "s-none"), "no session s-none",
         files=GOOD),
    Case("finding-without-memory", ("review", "approve", "f-0123456789ab", "--sha256", SHA),
         "findings memory .* does not exist", files=GOOD),
    Case("empty-reviewer", APPROVE, "invalid setting",
         files=GOOD, env={"AAR_REVIEW__REVIEWER": ""}),
    Case("reviewer-with-control-chars", APPROVE, "not a usable name",
         files=GOOD, env={"AAR_REVIEWER": "ana\x1b[31m"}),
    Case("foreign-audit-log", APPROVE, "kind 'eval-records'", exit_code=1,
         files={**GOOD, "runs/review-audit.jsonl": '{"aar_log": "eval-records", "version": 1}\n'}),
    Case("approve-without-sha256-or-terminal", ("review", "approve", PID),
         "approve needs --sha256 PREFIX", files=GOOD),
    Case("sha256-too-short", ("review", "approve", PID, "--sha256", "abc"), "--sha256 must be",
         files=GOOD),
    Case("sha256-not-hex", ("review", "approve", PID, "--sha256", "g" * 12), "--sha256 must be",
         files=GOOD),
    Case("sha256-of-something-else", ("review", "approve", PID, "--sha256", "0" * 12),
         "not to the sha256 000000000000", exit_code=1, files=GOOD),
    Case("sha256-on-reject-checked", ("review", "reject", PID, "-m", "no", "--sha256", "0" * 12),
         "not to the sha256", exit_code=1, files=GOOD),
    Case("comment-undecodable-bytes", ("review", "approve", PID, "--sha256", SHA, "-m",
         "\udcff\udcfe"), "comment holds bytes that are not text", files=GOOD, process=True),
    Case("reject-comment-undecodable-bytes", ("review", "reject", PID, "-m", "\udcff\udcfe"),
         "comment holds bytes that are not text", files=GOOD, process=True),
    Case("forged-audit-log", ("review", "verify"), "fails verification", exit_code=1,
         files={"runs/review-audit.jsonl": '{"aar_log": "review-audit", "version": 1}\n',
                "runs/review-audit.head": json.dumps({"seq": 3, "mac": "a" * 64,
                                                      "head_mac": "b" * 64})}),
    Case("forged-audit-log-blocks-approve", APPROVE, "fails verification",
         exit_code=1, process=True,
         files={**GOOD, "runs/review-audit.jsonl": '{"aar_log": "review-audit", "version": 1}\n',
                "runs/review-audit.head": "{}"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_review_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)


def test_a_damaged_proposal_in_a_listing_is_one_warning(workspace: Path) -> None:
    """A listing survives one bad file (a reviewer still sees the rest); naming it errs."""
    write_files(workspace, {PATH: "[]"})
    before = snapshot(workspace)
    out = run_cli(("review", "list"))
    warnings = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.exit_code == 0 and "Traceback" not in out.stderr, out.stderr
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped " + PID), warnings
    assert "is damaged" in warnings[0]
    assert snapshot(workspace) == before
