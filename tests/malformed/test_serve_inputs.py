"""`aar serve` with bad input: one error line, a non-zero exit, nothing written, no server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from malformed_support import BAD_PATH_FILES, Case, case_id, check, check_outcome, run_cli

RUNS = {"runs/keep": "the runs directory\n"}

CASES = [
    Case("port-word", ("serve", "--port", "eighty"), "invalid value for '--port'", files=RUNS),
    Case("port-too-big", ("serve", "--port", "70000"), "less than or equal to 65535", files=RUNS),
    Case("port-negative", ("serve", "--port", "-1"), "greater than or equal to 0", files=RUNS),
    Case("host-with-space", ("serve", "--host", "bad host"), "not a host name", files=RUNS),
    Case("host-empty", ("serve", "--host", ""), "not a host name", files=RUNS),
    Case(
        "host-not-here",
        ("serve", "--host", "192.0.2.1", "--port", "0"),
        "not an address of this machine",
        files=RUNS,
    ),
    Case("no-runs-dir", ("serve",), "does not exist"),
    Case(
        "runs-dir-is-a-file",
        ("serve", "--runs-dir", "{ws}/afile"),
        "not a directory",
        files=BAD_PATH_FILES,
    ),
    Case(
        "plain-token-in-settings",
        ("serve",),
        "never the token itself",
        files=RUNS,
        env={"AAR_REVIEW__REVIEWERS": '{"alice": "my-secret-token"}'},
    ),
    Case(
        "reviewer-named-aar",
        ("serve",),
        "not usable",
        files={**RUNS, "aar.toml": '[review.reviewers]\naar = "sha256:' + "0" * 64 + '"\n'},
    ),
    Case(
        "login-hours-zero",
        ("serve",),
        "greater than 0",
        files={**RUNS, "aar.toml": "[serve]\nlogin_hours = 0\n"},
    ),
    Case("token-name-empty", ("review", "token", ""), "not usable"),
    Case("token-name-aar", ("review", "token", "aar"), "not usable"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_serve_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)


@pytest.mark.parametrize("process", [False, True], ids=["in-process", "fresh-process"])
def test_a_port_in_use_is_one_line(workspace: Path, process: bool) -> None:
    (workspace / "runs").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = check_outcome(
            workspace,
            lambda: run_cli(("serve", "--port", str(port)), cwd=workspace, process=process),
            1,
            "already in use",
        )
    assert str(port) in line
