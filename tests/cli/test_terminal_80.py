"""The terminal a person uses: every command as `python -m aar ...` in a fresh process, the
80-column ones with COLUMNS=80, on real sessions (one scripted round run here, two archived).

Covers issue 22's "The terminal": whole ids and unique prefixes, output that fits 80 columns,
the end of `aar run`, a round without proposals closing its session, the progress display,
setup's step lines, `--version`/`-h`/`run --help`, the `ollama:`/`vllm:` aliases against the
fake provider on 127.0.0.1, finding the project as git does, reading commands that create
nothing, the probe flag's explanation, and the split named by a predictions file.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "session" / "data"
OLD = {"protocol1": "s-20261207-121425-d6ad70", "protocol2": "s-20261207-143337-b8a10a"}
sys.path.insert(0, str(REPO / "tools"))
from fake_llm import FakeLLM, ToolCall  # noqa: E402

PLANTED_KEY = "sk-planted-terminal-test-0c0ffee"


def aar(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """`python -m aar ARGS` at 80 columns, in `cwd`, without the test's path settings."""
    full = {k: v for k, v in os.environ.items() if k not in ("AAR_RUNS_DIR", "AAR_MEMORY_PATH")}
    full |= {"COLUMNS": "80", "LINES": "50"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "aar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full,
    )


def too_wide(text: str, width: int = 80) -> list[str]:
    return [line for line in text.splitlines() if len(line.rstrip()) > width]


def unpack(runs: Path, *names: str) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tarfile.open(DATA / f"{name}-session.tar.gz") as tar:
            members = tar.getmembers()
            assert all(m.name.startswith(OLD[name]) and ".." not in m.name for m in members)
            tar.extractall(runs, members=members)  # names checked just above


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A project directory with one real scripted round (1 task, 1 seed, 1 hypothesis) and
    the two archived sessions: three sessions whose ids share the prefix `s-20261207-`."""
    root = tmp_path_factory.mktemp("proj")
    done = aar("run", "--seeds", "1", "--hypotheses", "1", "-t", "digits-ge5", cwd=root)
    assert done.returncode == 0, done.stderr
    unpack(root / "runs", "protocol1", "protocol2")
    return root, done


def new_id(root: Path) -> str:
    return next(p.name for p in (root / "runs").glob("s-*") if p.name not in OLD.values())


# --- 80 columns ----------------------------------------------------------------------------


def test_sessions_list_shows_whole_ids_at_80_columns(project) -> None:
    root, _ = project
    done = aar("sessions", "list", cwd=root)
    assert done.returncode == 0 and not too_wide(done.stdout), done.stdout
    for sid in [*OLD.values(), new_id(root)]:
        assert re.search(rf"^{sid}\s", done.stdout, re.M), done.stdout
    assert "…" not in done.stdout


def test_a_unique_prefix_is_accepted_wherever_a_session_id_is_taken(project) -> None:
    root, _ = project
    sid = OLD["protocol2"]
    shown = aar("sessions", "show", "s-20261207-14", cwd=root)
    assert shown.returncode == 0 and shown.stdout.startswith(sid), shown.stderr
    listed = aar("review", "list", "--json", "--session", "s-20261207-14", cwd=root)
    items = json.loads(listed.stdout)["items"]
    assert items and {i["session_id"] for i in items} == {sid}
    found = aar("memory", "list", "--json", "--session", new_id(root)[:20], cwd=root)
    assert found.returncode == 0 and json.loads(found.stdout), found.stderr
    replayed = aar("replay", "--no-rescore", "s-20261207-14", cwd=root)
    assert "no session" not in replayed.stderr and "report(s) rebuilt" in replayed.stdout
    old = aar("resume", "s-20261207-12", cwd=root)  # protocol 1: found, then refused as old
    assert old.returncode != 0 and "no session" not in old.stderr and OLD["protocol1"] in old.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("sessions", "show", "s-2026"),
        ("resume", "s-2026"),
        ("replay", "s-2026"),
        ("review", "list", "--session", "s-2026"),
        ("memory", "list", "--session", "s-2026"),
    ],
)
def test_an_ambiguous_prefix_is_one_clear_error(project, command) -> None:
    root, _ = project
    done = aar(*command, cwd=root)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "is the start of 3 session ids" in done.stderr and OLD["protocol1"] in done.stderr


def test_unknown_and_unsafe_ids_are_refused(project) -> None:
    root, _ = project
    for given, said in (("s-1999", "no session 's-1999'"), ("../etc", "not a session id")):
        done = aar("sessions", "show", given, cwd=root)
        assert done.returncode == 2 and said in done.stderr, done.stderr


def test_memory_query_fits_80_columns(project) -> None:
    root, _ = project
    done = aar("memory", "query", "self-training weight on digits", "-k", "5", cwd=root)
    assert done.returncode == 0 and "f-" in done.stdout, done.stderr
    assert not too_wide(done.stdout), too_wide(done.stdout)


def test_review_list_is_compact_at_80_columns(project) -> None:
    root, _ = project
    done = aar("review", "list", "--status", "pending", cwd=root)
    items = json.loads(aar("review", "list", "--json", "--status", "pending", cwd=root).stdout)
    n = len(items["items"])
    assert done.returncode == 0 and n >= 3 and not too_wide(done.stdout), done.stdout
    lines = done.stdout.strip().splitlines()
    assert len(lines) <= 1 + 2 * n, done.stdout  # a title, then two lines an item
    for item in items["items"]:
        assert re.search(rf"^{item['id']}\s+pending\s+{item['session_id']}", done.stdout, re.M)


def test_bench_list_never_splits_a_task_name(tmp_path: Path) -> None:
    """The longest names (their gaps are measured here: the test run has its own task key)."""
    names = ("synthetic-gap-medium", "breast-cancer", "digits-10")
    done = aar("bench", "list", *(f"--task={n}" for n in names), cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not too_wide(done.stdout), too_wide(done.stdout)
    rows = [ln.split()[0] for ln in done.stdout.splitlines() if ln[:1].isalpha()]
    for name in names:
        assert name in rows, (name, done.stdout)


# --- the end of `aar run` ------------------------------------------------------------------


def test_run_ends_with_the_answer_and_the_next_command(project) -> None:
    root, done = project
    out = done.stdout
    sid = new_id(root)
    assert "best method per task:" in out and re.search(r"^  digits-ge5: \S", out, re.M), out
    assert re.search(r"^verdicts: \d+ (supported|refuted|inconclusive)", out, re.M), out
    assert f"review it:  aar review list --session {sid}" in out
    assert f"then:       aar resume {sid}" in out
    assert not too_wide(out), too_wide(out)
    state = json.loads(aar("sessions", "show", sid, "--json", cwd=root).stdout)
    assert state["state"] == "awaiting_review" and state["rounds"][0]["proposals"]


def test_a_round_without_proposals_closes_its_session(tmp_path: Path) -> None:
    """An LLM researcher (the `ollama:` alias at the fake provider) that finishes at once:
    no proposal, so the session is closed, and nothing offers `aar resume`; no key is sent
    to the local server even with OPENAI_API_KEY set."""
    script = [ToolCall(name="finish_round", args={"summary": "nothing worth testing"})]
    with FakeLLM(script) as server:
        done = aar(
            "run", "--model", "ollama:fake", "--base-url", server.openai_base_url,
            "--seeds", "1", "--hypotheses", "1", "-t", "digits-ge5",
            cwd=tmp_path, env={"OPENAI_API_KEY": PLANTED_KEY},
        )  # fmt: skip
        sent = [r.headers.get("authorization") for r in server.requests]
    assert done.returncode == 0, done.stderr
    assert sent == ["Bearer aar-no-key"], sent
    assert "proposed no follow-up; the session is closed" in done.stdout, done.stdout
    assert "aar resume" not in done.stdout + done.stderr and "best method per task:" in done.stdout
    sid = next((tmp_path / "runs").glob("s-*")).name
    state = json.loads(aar("sessions", "show", sid, "--json", cwd=tmp_path).stdout)
    assert state["state"] == "closed" and state["rounds"][0]["proposals"] == []
    again = aar("resume", sid[:12], cwd=tmp_path)
    assert again.returncode != 0 and "is closed" in again.stderr, again.stderr


def test_old_sessions_keep_their_state(project) -> None:
    """Logs written before the closing rule still say what they said."""
    root, _ = project
    for sid in OLD.values():
        state = json.loads(aar("sessions", "show", sid, "--json", cwd=root).stdout)
        assert state["state"] == "awaiting_review"


# --- the progress display ------------------------------------------------------------------


def test_progress_rows_cut_at_a_word_and_say_baselines() -> None:
    from rich.console import Console

    from aar._cli.progress import progress_view
    from aar.session import Progress, SessionConfig, SessionState

    words = "smoothing the weak labels " * 10
    p = Progress(round=1, round_kind="research", hypothesis=words, tokens=5, usd=0.25)
    state = SessionState(id="s-x", config=SessionConfig(model="openai:x"))
    console = Console(width=80, record=True)
    console.print(progress_view(p, state, 80))
    text = console.export_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("hypothesis"))
    shown = row.rstrip().removeprefix("hypothesis").split()
    assert shown[-1].endswith("…") and shown[-1][:-1] in words.split(), row  # a whole word
    assert len(row.rstrip()) <= 80 and len(shown) > 5, row
    assert "5 tokens, $0.2500" in text
    scripted = Console(width=80, record=True)
    scripted.print(progress_view(p, SessionState(id="s-x", config=SessionConfig()), 80))
    assert "tokens" not in scripted.export_text() and "$" not in scripted.export_text()


def _screen(raw: str, width: int = 80) -> list[str]:
    """What a terminal shows after `raw`: enough of VT100 for rich's live display (cursor up,
    erase line, carriage return, newline); other escape sequences draw nothing."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|.", raw, re.S):
        if token.startswith("\x1b["):
            n = int(re.sub(r"\D", "", token[2:-1]) or 1)
            if token[-1] == "A":
                row = max(row - n, 0)
            elif token[-1] == "K":
                lines[row] = ""
        elif token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif not token.startswith("\x1b"):
            if col >= width:  # the terminal wraps a full line
                row, col = row + 1, 0
                lines += [""] * (row + 1 - len(lines))
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + 1 :]
            col += 1
    return lines


def test_ctrl_c_leaves_one_round_line_and_baselines_are_named(tmp_path: Path) -> None:
    """`aar run` in a real pseudo-terminal, stopped by Ctrl-C (SIGINT) while it works."""
    env = {k: v for k, v in os.environ.items() if k not in ("AAR_RUNS_DIR", "AAR_MEMORY_PATH")}
    env |= {"COLUMNS": "80", "LINES": "40", "TERM": "xterm"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: aar in the pseudo-terminal
        os.chdir(tmp_path)
        args = ["-m", "aar", "run", "--seeds", "1", "--hypotheses", "1", "-t", "digits-ge5"]
        os.execve(sys.executable, [sys.executable, *args], env)
    raw, sent, start = b"", False, time.monotonic()
    while time.monotonic() - start < 240:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            raw += chunk
        if not sent and b"baselines" in raw and time.monotonic() - start > 1:
            os.write(fd, b"\x03")  # Ctrl-C as typed: SIGINT to the whole foreground group
            sent = True
    _, status = os.waitpid(pid, 0)
    text = raw.decode("utf-8", "replace")
    assert sent, text[-2000:]
    assert os.waitstatus_to_exitcode(status) == 130, text[-2000:]
    screen = _screen(text)
    assert sum(1 for ln in screen if ln.startswith("round ")) == 1, "\n".join(screen)
    assert any("interrupted" in ln for ln in screen) and "tokens" not in text


# --- help, version, setup ------------------------------------------------------------------


def test_version_and_short_help(tmp_path: Path) -> None:
    from aar import __version__

    for flag in ("--version", "-V"):
        done = aar(flag, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.strip() == __version__
    for args in (("-h",), ("sessions", "-h"), ("memory", "query", "-h")):
        done = aar(*args, cwd=tmp_path)
        assert done.returncode == 0 and "Usage:" in done.stdout, done.stderr


def test_run_help_names_the_keys_and_describes_every_budget(tmp_path: Path) -> None:
    done = aar("run", "--help", cwd=tmp_path)
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", done.stdout).split())
    for needed in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ollama:NAME", "vllm:NAME", "--base-url"):
        assert needed in flat, needed
    for budget in ("usd", "tokens", "evals", "requests", "minutes"):
        described = flat.split(f"--budget-{budget}", 1)[1].split("--", 1)[0]
        assert len(described.split()) >= 10 and "Default" in described, (budget, described)
    assert not too_wide(done.stdout)


def test_setup_says_what_it_is_doing(tmp_path: Path) -> None:
    """tools/setup in a copy of the repository whose venv is a stub: every step prints its
    line, in order, before it runs (the real installs are what take minutes)."""
    if not (shutil.which("bwrap") and Path("/usr/bin/chromium").exists()):
        pytest.skip("setup would install system packages here")
    (tmp_path / "tools").mkdir()
    shutil.copy(REPO / "tools" / "setup", tmp_path / "tools" / "setup")
    stub = tmp_path / ".venv" / "bin"
    stub.mkdir(parents=True)
    for name in ("python", "aar"):
        (stub / name).write_text("#!/bin/sh\nexit 0\n")
        (stub / name).chmod(0o755)
    done = subprocess.run(
        ["bash", str(tmp_path / "tools" / "setup")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    steps = re.findall(r"^aar setup \[(\d)/(\d)\] (.+)$", done.stderr, re.M)
    assert [int(n) for n, _, _ in steps] == list(range(1, 7)) and {t for _, t, _ in steps} == {
        "6"
    }, done.stderr
    assert any("torch" in what for _, _, what in steps) and "ready" in done.stdout


# --- local servers -------------------------------------------------------------------------


def test_local_server_aliases_parse_with_their_usual_urls() -> None:
    from aar.agent import ModelSpec, model_price
    from aar.agent._providers import endpoint_url

    for spec, url in (
        ("ollama:llama3.1", "http://127.0.0.1:11434/v1"),
        ("vllm:Qwen/Qwen2.5-7B", "http://127.0.0.1:8000/v1"),
    ):
        parsed = ModelSpec.parse(spec)
        assert parsed.provider == "openai" and str(parsed) == spec
        assert endpoint_url(spec, env={}) == url
        assert (
            endpoint_url(spec, base_url="http://127.0.0.1:9/v1", env={}) == "http://127.0.0.1:9/v1"
        )
        assert model_price(spec, env={}) is None  # a local server has no list price


def test_vllm_alias_talks_to_the_fake_server_at_its_default_url(monkeypatch) -> None:
    from fake_llm import Reply
    from pydantic_ai import Agent, models

    from aar.agent import build_model, check_endpoint

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    try:
        server = FakeLLM([Reply(text="hello from vllm")], port=8000)
    except OSError:
        pytest.skip("port 8000 is in use here")
    with server:
        assert check_endpoint("vllm:fake") == "http://127.0.0.1:8000/v1"
        result = Agent(build_model("vllm:fake")).run_sync("hi")
        assert result.output == "hello from vllm"
        assert [r.path for r in server.requests] == ["/v1/chat/completions"]
        assert server.requests[0].headers["authorization"] == "Bearer aar-no-key"


def test_an_unknown_provider_names_the_aliases(tmp_path: Path) -> None:
    done = aar("run", "--model", "llamacpp:x", cwd=tmp_path)
    assert done.returncode == 2 and "ollama:NAME or vllm:NAME" in done.stderr, done.stderr


# --- the working directory -----------------------------------------------------------------


def test_the_project_is_found_from_a_subdirectory(project) -> None:
    root, _ = project
    deep = root / "notes" / "drafts"
    deep.mkdir(parents=True, exist_ok=True)
    done = aar("sessions", "list", "--json", cwd=deep)
    assert {s["id"] for s in json.loads(done.stdout)} >= set(OLD.values()), done.stderr
    assert not (deep / "runs").exists() and not (deep / "memory").exists()
    found = aar("memory", "list", "--json", cwd=deep)
    assert found.returncode == 0 and json.loads(found.stdout), found.stderr


def test_outside_a_project_aar_says_where_it_looked(tmp_path: Path) -> None:
    done = aar("sessions", "list", cwd=tmp_path)
    assert done.returncode == 0 and f"looked for aar.toml or runs/ in {tmp_path}" in done.stderr
    assert "AAR_CONFIG" in done.stderr


READING = [
    ("sessions", "list"),
    ("sessions", "list", "--json"),
    ("memory", "query", "early stopping"),
    ("memory", "list"),
    ("memory", "show", "f-0123456789ab"),
    ("memory", "stats"),
    ("review", "list"),
    ("review", "show", "p-0123456789ab"),
    ("leaderboard",),
]


@pytest.mark.parametrize("command", READING, ids=" ".join)
def test_reading_commands_create_nothing(tmp_path: Path, command) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = aar(*command, cwd=empty)
    assert "Traceback" not in done.stderr, done.stderr
    assert list(empty.iterdir()) == [], (command, list(empty.iterdir()))


# --- probe flags and splits ----------------------------------------------------------------


def test_a_probe_flag_on_an_approved_sweep_says_what_it_means(tmp_path: Path) -> None:
    from aar.session import EventLog
    from aar.session._probe_flags import probe_notes

    unpack(tmp_path, "protocol2")
    state = EventLog(tmp_path / OLD["protocol2"]).state()
    flag = "probe flag: 2 of 3 submissions of logconf-aux_coef-0.75 differ from an earlier one"
    assert probe_notes(state, 1, [flag]) == [flag]  # a research round: the flag as it was
    followup = state.rounds[0].model_copy(update={"number": 2, "kind": "followup"})
    followup.followups = ["p-0123456789ab"]
    state.rounds.append(followup)
    assert probe_notes(state, 2, [flag]) == [flag]  # an older layout keeps its words
    state.report_layout = 3
    (note,) = probe_notes(state, 2, [flag])
    assert note.startswith(flag) and "p-0123456789ab" in note
    assert "expected here" in note and "Worry only if" in note


def test_a_file_named_for_another_split_is_warned_about(tmp_path: Path) -> None:
    import numpy as np

    from aar._cli.bench_split import named_split

    assert named_split(Path("seed-42.test.npy")) == "test"
    assert named_split(Path("holdout_preds.csv")) == "holdout"
    assert named_split(Path("weak_train.npy")) == "weak_train"
    assert named_split(Path("contest.npy")) is None
    np.save(tmp_path / "X.test.npy", np.full((269, 2), 0.5))
    done = aar(
        "bench", "evaluate", "X.test.npy", "-t", "digits-ge5", "--split", "holdout", cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    warning, error = done.stderr.strip().splitlines()
    assert warning.startswith(
        "warning: X.test.npy is named for the test split, but --split is holdout"
    )
    assert error.startswith("error: holdout is never scored on request")


# --- team status, leaderboard, bench run at 80 columns ------------------------------------


def test_team_status_shows_whole_session_ids_and_states_at_80_columns(tmp_path: Path) -> None:
    """A real team record and its two real sessions (made as `aar team start` makes them,
    nothing run; one then awaits review), read by `aar team status` in a fresh process. The
    two ids share their first 17 characters, so only whole ids tell them apart."""
    from aar.config import get_settings
    from aar.session import Session, SessionConfig, StateChanged
    from aar.team import TeamConfig, start_team

    runs = tmp_path / "runs"
    session = SessionConfig(tasks=["digits-ge5"], seeds=[42], hypotheses=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAR_RUNS_DIR", str(runs))
        mp.setenv("AAR_MEMORY_PATH", str(tmp_path / "memory"))
        mp.delenv("AAR_MEMORY_URL", raising=False)
        get_settings.cache_clear()
        try:
            team = start_team(runs, TeamConfig(researchers=2, session=session))
        finally:
            get_settings.cache_clear()
    ids = [r.session_id for r in team.record.researchers]
    first = Session.open(runs, ids[0])
    try:
        first.emit(StateChanged(state="awaiting_review", why="round 1 ended: test"))
    finally:
        first.shutdown()
    done = aar("team", "status", cwd=tmp_path)
    assert done.returncode == 0 and not too_wide(done.stdout), done.stdout
    assert "…" not in done.stdout, done.stdout  # no id, state or hypothesis ("-") cut
    assert re.search(rf"^1\s+{ids[0]}\s+awaiting_review\s", done.stdout, re.M), done.stdout
    assert re.search(rf"^2\s+{ids[1]}\s+queued\s", done.stdout, re.M), done.stdout


def test_team_status_cuts_only_the_hypothesis_at_a_word_at_80_columns() -> None:
    from rich.console import Console

    from aar._cli.team import status_table
    from aar.team import ResearcherStatus, TeamStatus

    words = "smoothing the weak labels with a confidence auxiliary loss " * 3
    researcher = ResearcherStatus(
        index=1, direction="losses", session_id="s-20261207-220105-75f715",
        state="awaiting_review", round=1, hypothesis=words, hypotheses=1, evals_used=4,
        evals_budget=200, usd=0.0, worker=None, moves=0, outcome="interrupted",
    )  # fmt: skip
    now = TeamStatus(
        id="t-20261207-220105-abc123", researchers=[researcher], finished=False,
        stop_requested=False, report=None,
    )  # fmt: skip
    console = Console(width=80, record=True)
    console.print(status_table(now))
    text = console.export_text()
    assert not too_wide(text), text
    row = r"^1\s+s-20261207-220105-75f715\s+awaiting_review \(interrupted\)\s"
    assert re.search(row, text, re.M), text
    cut = next(ln for ln in text.splitlines() if ln.rstrip().endswith("…")).split()
    assert cut[-1][:-1] in words.split() and len(cut) > 8, text  # a whole word, most of a line


def _entry(method: str, session_id: str, round_: int, best: bool = True):
    from aar.team import LeaderboardEntry
    from aar.team._leaderboard import Effect

    config = "losses.aux_coef=0.75, losses.confidence_threshold=0.9, training.epochs=40, lr=1e-3"
    return LeaderboardEntry(
        task="synthetic-gap-medium", method=method, verdict="supported", config_text=config,
        config_key=config, pgr_mean=0.5123, pgr_ci=(-0.401, 0.623), n_seeds=5,
        seeds=[42, 43, 44, 45, 46], fresh_seeds=True,
        vs_naive=Effect(mean=0.101, ci=(-0.05, 0.152), adjusted_p=0.0123),
        session_id=session_id, round=round_, experiment="e-1", finding_id="f-0123456789ab",
        record_ids=["r-1"], code_sha256="0123456789abcdef" * 4,
        script="experiments/e-1/cells.py", best_of_config=best, same_config=2,
    )  # fmt: skip


@pytest.mark.parametrize("width", [80, 100, 200])
def test_leaderboard_keeps_methods_and_ids_whole(width: int) -> None:
    """At 80 columns the table gave the method 8 characters (~30 lines an entry) and cropped
    the ids: below the table's width an entry is a few lines, names and ids whole."""
    from rich.console import Console

    from aar._cli.leaderboard import board_view
    from aar.team import TaskBoard

    entries = [
        _entry("logconf-aux_coef-0.75", "s-20261207-220105-75f715", 12),
        _entry("entropy-min-weight-0.3-label-smoothing", "s-20261207-220106-0a0b0c", 1, False),
    ]
    console = Console(width=width, record=True)
    console.print(board_view(TaskBoard(task="synthetic-gap-medium", entries=entries), width))
    text = console.export_text()
    assert not too_wide(text, width), text
    for e in entries:
        assert f"{e.session_id} round {e.round}" in text and e.method in text, text
        assert e.finding_id in text and e.code_sha256[:12] in text and "[-0.401, 0.623]" in text
    if width == 80:
        assert len(text.splitlines()) <= 1 + 5 * len(entries), text


def test_bench_run_table_never_splits_a_task_name(tmp_path: Path) -> None:
    names = ("synthetic-gap-medium", "digits-ge5")
    done = aar("bench", "run", "--seeds", "2", *(f"--task={n}" for n in names), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("results:")[0]
    assert not too_wide(table), table
    rows = [ln.split()[0] for ln in table.splitlines() if ln[:1].isalpha()]
    for name in names:
        assert name in rows, (name, table)
    assert re.search(r"^\s+naive\s+0\.\d{3} ± 0\.\d{3}\s", table, re.M), table
