"""`aar bench ...` as a user calls it: happy paths and every bad-input path (one line, exit 2)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aar.bench import EvalLog
from aar.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aar.config import get_settings

    monkeypatch.setenv("AAR_BENCH__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AAR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("COLUMNS", "250")  # rich tables unwrapped
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _error(*args: str) -> str:
    """Run the app as the console script does (`main()` calls `app()`): exit code and stderr.

    typer's CliRunner bypasses the app's own error handling, so errors are checked this way.
    """
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out), pytest.raises(SystemExit) as exc:
        app(list(args), prog_name="aar")
    assert exc.value.code == 2, (out.getvalue(), err.getvalue())
    text = err.getvalue().strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text


def test_list_measures_then_caches(tmp_path: Path) -> None:
    first = _ok("bench", "list", "--task", "test-tiny", "--device", "cpu")
    assert "test-tiny" in first and "measured" in first
    assert "logistic regression on 2 noisy" in first
    second = _ok("bench", "list", "--task", "test-tiny")
    assert "cache" in second and "measured" not in second
    assert (tmp_path / "cache" / "bench_gaps.json").exists()


def test_run_writes_table_results_json_and_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = tmp_path / "s.json"
    args = ["bench", "run", "-t", "test-tiny", "-m", "naive", "-m", "naive+es", "--seeds", "2"]
    text = _ok(*args, "--device", "cpu", "--out", str(out), "--json", str(summary))
    assert "PGR" in text and "naive+es" in text
    data = json.loads(summary.read_text())
    task = data["tasks"]["test-tiny"]
    assert set(task["methods"]) == {"naive", "naive+es"}
    naive = task["methods"]["naive"]
    for key in ("pgr_acc_mean", "pgr_acc_se", "pgr_acc_ci", "pgr_auroc_mean", "acc_mean"):
        assert isinstance(naive[key], float | list)
    assert len(naive["seeds"]) == 2 and data["seconds"] > 0
    assert task["weak"]["acc_mean"] < task["ceiling"]["acc_mean"]
    assert {p.name for p in out.iterdir()} >= {"results.json", "summary.json", "pgr.png"}
    assert (out / "pgr.png").stat().st_size > 1000


def test_run_default_dir_is_under_runs_dir(tmp_path: Path) -> None:
    _ok("bench", "run", "-t", "test-tiny", "--seeds", "1", "-m", "naive")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("bench-")


def test_export_then_evaluate_round_trip(tmp_path: Path) -> None:
    pub = tmp_path / "pub"
    _ok("bench", "export-public", "--task", "test-tiny", "--seed", "43", str(pub))
    weak = np.load(pub / "test_weak_labels.npy")[:, 1]
    pred = tmp_path / "pred.npy"
    np.save(pred, weak)
    log = tmp_path / "log.jsonl"
    text = _ok(
        "bench", "evaluate", "--task", "test-tiny", "--seed", "43", str(pred), "--log", str(log)
    )
    assert "floored to 0.01" in text and "budget 1/" in text
    hold = tmp_path / "hold.npy"
    np.save(hold, np.load(pub / "holdout_weak_inputs.npy")[:, 0] * 0 + 0.5)
    # Holdout is never scored on request: exact answers to repeated submissions gave every
    # label away (85 one-row submissions, breast-cancer seed 42). Nothing is charged.
    refused = _error(
        "bench", "evaluate", "-t", "test-tiny", "-s", "43", str(hold), "--split", "holdout"
    )
    assert "holdout is never scored on request" in refused
    assert len(EvalLog(log).records) == 1
    assert log.read_text().splitlines()[0] == '{"aar_log": "eval-records", "version": 1}'


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["bench", "run", "-t", "no-such-task"], "unknown task 'no-such-task'"),
        (["bench", "run", "-t", "test-tiny", "-m", "magic"], "unknown method 'magic'"),
        (["bench", "run", "-t", "test-tiny", "--seeds", "0"], "between 1 and 100"),
        (["bench", "run", "-t", "test-tiny", "--seeds", "-3"], "between 1 and 100"),
        (["bench", "run", "-t", "test-tiny", "--seeds", "100000"], "between 1 and 100"),
        (["bench", "run", "-t", "test-tiny", "--device", "cuda:7"], "CUDA"),
        (["bench", "list", "-t", "nope"], "valid tasks"),
        (["bench", "export-public", "-t", "nope", "DIR"], "unknown task"),
        (["bench", "export-public", "-t", "test-tiny", "-s", "-1", "DIR"], "between 0 and"),
        (["bench", "evaluate", "-t", "test-tiny", "missing.npy"], "does not exist"),
        (["bench", "evaluate", "-t", "test-tiny", "P", "--split", "train"], "'test' or 'holdout'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], match: str, tmp_path: Path) -> None:
    pred = tmp_path / "p.npy"
    np.save(pred, np.zeros(3))
    args = [str(tmp_path / "d") if a == "DIR" else str(pred) if a == "P" else a for a in args]
    assert match in _error(*args)


def test_bad_prediction_file_is_one_line(tmp_path: Path) -> None:
    pred = tmp_path / "p.npy"
    np.save(pred, np.full(5, 0.5))
    assert "shape" in _error("bench", "evaluate", "-t", "test-tiny", str(pred))


def test_existing_non_empty_export_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("keep me")
    assert "not empty" in _error("bench", "export-public", "-t", "test-tiny", str(tmp_path / "d"))
    assert (tmp_path / "d" / "notes.txt").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_unwritable_out_dir_nonroot(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    assert "output" in _error("bench", "run", "-t", "test-tiny", "--out", str(ro / "x"))


def test_unwritable_out_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    assert "output" in _error("bench", "run", "-t", "test-tiny", "--out", str(blocker / "x"))
    assert "output" in _error("bench", "run", "-t", "test-tiny", "--out", str(blocker))
    assert "--json" in _error("bench", "run", "-t", "test-tiny", "--json", str(tmp_path))


def test_console_script_error_path() -> None:
    """The installed `aar` script itself: a user mistake is one red line and exit code 2."""
    import subprocess
    import sys

    script = Path(sys.executable).with_name("aar")
    result = subprocess.run(
        [str(script), "bench", "run", "--task", "no-such-task"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown task 'no-such-task'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_module_stays_light() -> None:
    """`aar --help` must not pay for torch, sklearn or numpy: `aar bench` imports them late."""
    import subprocess
    import sys

    code = (
        "import sys, aar._cli.bench; heavy = [m for m in "
        "('torch', 'sklearn', 'numpy', 'matplotlib') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_evaluate_scores_through_the_installations_scorer(tmp_path: Path) -> None:
    """Without --log every call pays from one 'cli' account (no fresh budget per call); a
    one-row flip of an earlier submission gets a repeat, never a fresh score."""
    pub = tmp_path / "pub"
    _ok("bench", "export-public", "--task", "test-tiny", "--seed", "42", str(pub))
    weak = np.load(pub / "test_weak_labels.npy")
    first = json.loads(_ok("bench", "evaluate", "-t", "test-tiny", _save(tmp_path, weak), "--json"))
    flip = weak.copy()
    flip[0] = flip[0, ::-1]
    text = _ok("bench", "evaluate", "-t", "test-tiny", _save(tmp_path, flip, "flip.npy"))
    assert f"repeats record {first['id']}" in text and "budget 2/200" in text
    assert first["answer"] == "not_better" and first["metrics"]["acc"] == "NaN"  # not shown
    assert "not shown: test accuracy below" in _ok(
        "bench", "evaluate", "-t", "test-tiny", _save(tmp_path, weak[::-1].copy(), "rev.npy")
    )


def test_an_old_evaluator_log_is_read_and_its_records_count(tmp_path: Path) -> None:
    """A log written before the scorer (records without an answer) keeps its count."""
    pub = tmp_path / "pub"
    _ok("bench", "export-public", "--task", "test-tiny", "--seed", "42", str(pub))
    weak = np.load(pub / "test_weak_labels.npy")
    log = tmp_path / "old.jsonl"
    _ok("bench", "evaluate", "-t", "test-tiny", _save(tmp_path, weak), "--log", str(log))
    lines = log.read_text().splitlines()
    old = json.loads(lines[1])
    for key in ("answer", "threshold_acc", "repeat_of"):
        old.pop(key)
    log = tmp_path / "legacy.jsonl"  # a log no scorer account has paid from yet
    log.write_text("\n".join([json.dumps(old)] * 3) + "\n")  # headerless, as old logs were
    assert len(EvalLog(log).records) == 3
    text = _ok(
        "bench",
        "evaluate",
        "-t",
        "test-tiny",
        _save(tmp_path, weak[::-1].copy(), "r.npy"),
        "--log",
        str(log),
    )
    assert "budget 1/197" in text
    assert [r.answer for r in EvalLog(log).records] == [None, None, None, "not_better"]


def _save(tmp_path: Path, probs: np.ndarray, name: str = "p.npy") -> str:
    path = tmp_path / name
    np.save(path, probs)
    return str(path)


@pytest.mark.slow
def test_processes_sharing_a_log_never_overshoot_its_budget(tmp_path: Path) -> None:
    """Measured before the scorer: two processes on one log counted 1, 1, 3, 3, ... Four
    `aar bench evaluate` processes on one --log with a budget of 2: exactly 2 are scored."""
    import subprocess
    import sys

    pub = tmp_path / "pub"
    _ok("bench", "export-public", "--task", "breast-cancer", "--seed", "42", str(pub))
    weak = np.load(pub / "test_weak_labels.npy")
    log = tmp_path / "shared.jsonl"
    env = os.environ | {"AAR_BENCH__EVAL_BUDGET": "2", "AAR_BENCH__CACHE_DIR": str(tmp_path)}
    files = [_save(tmp_path, np.roll(weak, 17 * i, axis=0), f"p{i}.npy") for i in range(4)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aar",
                "bench",
                "evaluate",
                "-t",
                "breast-cancer",
                f,
                "--log",
                str(log),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for f in files
    ]
    codes = [p.wait(timeout=300) for p in procs]
    errors = [p.stderr.read() for p in procs if p.stderr is not None]
    assert sorted(codes) == [0, 0, 2, 2], (codes, errors)
    assert sum("budget of 2 scored submissions used up" in e for e in errors) == 2
    records = EvalLog(log).records
    assert sorted(r.budget_used for r in records) == [1, 2]
