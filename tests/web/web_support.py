"""Helpers of the web tests: one real scripted session with two proposals and a finding, copies
of it per module, reviewers' tokens, logins, and a real `aar serve` subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aar.hashing import join_cells
from aar.web import new_token, token_hash

TOKENS = {"alice": new_token(), "bob": new_token()}
REVIEWERS = {name: token_hash(token) for name, token in TOKENS.items()}
LOOK_CELL = "print('looking at the baselines')"
CODE_A = join_cells([LOOK_CELL, "print('follow-up A ran')"])
CODE_B = join_cells([LOOK_CELL, "print('follow-up B ran')"])
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Built:
    """The session as the scripted round left it (never decided on: copies are)."""

    runs: Path
    session_id: str
    proposals: list[str]
    finding: str


def _script():
    info = yield ("list_tasks", {})
    ids = info["baselines"]["logconf"]["digits-ge5"]["record_ids"]
    hyp = yield (
        "propose_hypothesis",
        {"statement": "logconf beats naive on digits", "method": "logconf"},
    )
    yield ("run_cell", {"code": LOOK_CELL})
    found = yield (
        "record_finding",
        {
            "hypothesis_id": hyp["id"],
            # the ladder usually withholds these scores: the finding is recorded all the same
            "summary": "logconf compared with naive",
            "verdict": "inconclusive",
            "eval_record_ids": ids,
        },
    )
    assert "error" not in found, found
    # each rationale names the method it follows up (a proposal follows the experiment of the
    # hypothesis it names, never merely the last one that ran)
    for rationale, code in (
        ("sweep A: print a marker, after logconf", CODE_A),
        ("sweep B: another, after logconf", CODE_B),
    ):
        made = yield ("propose_followup", {"rationale": rationale, "code": code})
        assert "error" not in made, made
    yield ("finish_round", {"summary": "two follow-ups proposed"})


def build_session(root: Path) -> Built:
    """A real research round (sandbox, evaluator, git, memory) that ends in a report, two
    proposals following its experiment, and one finding; ~25 s."""
    from aar.agent import run_round, script_model, start_round
    from aar.session import Session, SessionConfig

    session = Session.create(root / "runs", SessionConfig(tasks=["digits-ge5"], seeds=[42, 43]))
    try:
        start_round(session)
        why = run_round(session, model=script_model(_script, session.round_number))
        assert why == "finished by the agent", why
        state = session.state
        return Built(root / "runs", state.id, list(state.proposals), next(iter(state.findings)))
    finally:
        session.shutdown()


@dataclass
class Site:
    """A copy of the built session with its own runs dir, audit log and findings memory."""

    root: Path
    runs: Path
    memory: Path
    session_id: str
    proposals: list[str]
    finding: str

    @property
    def session_dir(self) -> Path:
        return self.runs / self.session_id

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AAR_RUNS_DIR": str(self.runs),
            "AAR_MEMORY_PATH": str(self.memory),
            "AAR_REVIEW__REVIEWERS": json.dumps(REVIEWERS),
        }


def copy_site(built: Built, root: Path) -> Site:
    """Copy the session; fill a fresh memory with its findings (as the round stored them)."""
    from aar.config import get_settings
    from aar.memory import open_store
    from aar.session import EventLog

    runs = root / "runs"
    shutil.copytree(built.runs, runs, symlinks=True)
    for stale in runs.glob("review-audit*"):
        stale.unlink()
    state = EventLog(runs / built.session_id).state()
    store = open_store(get_settings())
    store.add_many(list(state.findings.values()))
    return Site(root, runs, root / "memory", built.session_id, built.proposals, built.finding)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:2000]
    return match.group(1)


def login(client: Any, name: str = "alice") -> str:
    """Log `client` in as `name`; returns the login's CSRF secret (from a page's forms)."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"token": TOKENS[name], "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def decide_form(csrf: str, verdict: str, sha256: str, comment: str = "") -> dict[str, str]:
    return {"csrf": csrf, "verdict": verdict, "sha256": sha256, "comment": comment}


@contextmanager
def serving(site: Site, *args: str, reviewers: dict[str, str] | None = None) -> Iterator[str]:
    """A real `aar serve` on a free port of 127.0.0.1; yields its base URL."""
    env = site.env() | {
        "AAR_REVIEW__REVIEWERS": json.dumps(REVIEWERS if reviewers is None else reviewers)
    }
    log = (site.root / f"serve-{time.monotonic_ns()}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aar", "serve", "--port", "0", "--runs-dir", str(site.runs), *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"(http://\S+?)/?$", line.strip())
        assert match, f"no address in {line!r}; log: {Path(log.name).read_text()}"
        url = match.group(1).replace("//0.0.0.0:", "//127.0.0.1:")  # the wildcard: via loopback
        _wait_until_up(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/login", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"aar serve at {url} did not answer within {timeout} s")
        time.sleep(0.1)


def resume(site: Site) -> subprocess.CompletedProcess[str]:
    """`aar resume` of the site's session, as a reviewer would run it next."""
    return subprocess.run(
        [sys.executable, "-m", "aar", "resume", site.session_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=site.env(),
    )


def assert_ran_exactly(site: Site, approved: str) -> None:
    """Round 2 ran the approved proposal only, its code byte for byte."""
    from aar.review import read_proposal
    from aar.sandbox import split_cells
    from aar.session import EventLog

    state = EventLog(site.session_dir).state()
    ran = [e for e in state.experiments.values() if e.round == 2]
    assert state.rounds[1].followups == [approved]
    assert [e.proposal_id for e in ran] == [approved]
    proposal = read_proposal(site.session_dir / "proposals" / f"{approved}.json")
    assert ran[0].cells == split_cells(proposal.code)
    assert (site.session_dir / ran[0].path / "cells.py").read_bytes() == proposal.code.encode()


def client_for(site: Site, reviewers: dict[str, str] | None = None, **config: Any) -> Any:
    """A TestClient of a fresh app over the site (reviewers alice and bob by default)."""
    from fastapi.testclient import TestClient

    from aar.web import WebConfig, create_app

    web = WebConfig(site.runs, REVIEWERS if reviewers is None else reviewers, **config)
    return TestClient(create_app(web), follow_redirects=False)


def add_proposal(site: Site, code: str, **fields: Any) -> Any:
    """One more proposal of the site's round 1, following its experiment, logged in the
    session's events.jsonl as the session logs a proposal it makes."""
    from aar.review import new_proposal, write_proposal
    from aar.session import EventLog

    state = EventLog(site.session_dir).state()
    follows = next(e.id for e in state.experiments.values() if e.hypothesis_id == "h1-1")
    proposal = new_proposal(
        site.session_id,
        1,
        fields.pop("rationale", "another sweep"),
        code,
        estimated_evaluations=fields.pop("estimated_evaluations", 2),
        estimated_tokens=fields.pop("estimated_tokens", 100),
        follows=follows,
        **fields,
    )
    write_proposal(site.session_dir, proposal)
    log_proposal(site, proposal)
    return proposal


def log_proposal(site: Site, proposal: Any) -> None:
    """Log `proposal` in the session's events.jsonl, as the session does when it proposes."""
    from aar.session import EventLog, Proposed

    data = Proposed(id=proposal.id, sha256=proposal.sha256, path=f"{proposal.id}.json")
    EventLog(site.session_dir).append(data, round=proposal.round)
