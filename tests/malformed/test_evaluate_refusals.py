"""`aar bench evaluate` refuses a submission that cannot match the split before it loads the
task (issue 18's sweep: every bad-predictions error took ~1.7 s, most of it training the weak
supervisor): after the pair has been evaluated once, its public ids are cached, and a wrong
length or wrong ids is one line, exit 2, with no heavy module imported and nothing charged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("torch", "sklearn", "scipy", "chromadb")

_EVALUATE = """
import json, sys
from typer.testing import CliRunner
from aar.cli import app
result = CliRunner().invoke(app, ["bench", "evaluate", *sys.argv[2:]])
loaded = [m for m in json.loads(sys.argv[1]) if m in sys.modules]
print(json.dumps({"exit": result.exit_code, "err": result.stderr, "heavy": loaded}))
"""


def _evaluate(*args: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _EVALUATE, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ) | {
        "AAR_BENCH__CACHE_DIR": str(tmp_path / "cache"),
        "AAR_SCORER__DIR": str(tmp_path / "scorer"),
        "AAR_RUNS_DIR": str(tmp_path / "runs"),
    }


def test_a_cached_pair_refuses_bad_predictions_before_loading_the_task(
    tmp_path: Path, env: dict[str, str]
) -> None:
    short = tmp_path / "short.npy"
    np.save(short, np.full((10, 2), 0.5))
    first = _evaluate(str(short), "--task", "breast-cancer", env=env)  # loads the task once
    assert first["exit"] == 2 and "does not match the split" in first["err"], first
    assert "sklearn" in first["heavy"]
    cached = list((tmp_path / "cache" / "public-ids").glob("breast-cancer-seed42-*.npz"))
    assert len(cached) == 1

    wrong_ids = tmp_path / "wrong.csv"
    wrong_ids.write_text("id,prob\n" + "".join(f"{i},0.5\n" for i in range(86)))
    for bad in (short, wrong_ids):
        again = _evaluate(str(bad), "--task", "breast-cancer", env=env)
        lines = [ln for ln in again["err"].splitlines() if ln.strip()]
        assert again["exit"] == 2 and len(lines) == 1, again
        assert again["heavy"] == [], again  # refused from the cache alone
    assert not (tmp_path / "scorer").exists() or not any((tmp_path / "scorer").rglob("*.jsonl"))


def test_a_damaged_cache_is_ignored_and_never_decides_alone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    directory = tmp_path / "cache" / "public-ids"
    directory.mkdir(parents=True)
    short = tmp_path / "short.npy"
    np.save(short, np.full((10, 2), 0.5))
    first = _evaluate(str(short), "--task", "breast-cancer", env=env)
    (cached,) = directory.glob("*.npz")
    cached.write_bytes(b"not a zip")
    again = _evaluate(str(short), "--task", "breast-cancer", env=env)
    assert again["exit"] == 2 and again["err"] == first["err"] and "sklearn" in again["heavy"]
    # A cache claiming other ids cannot refuse a valid submission's ids for the real split:
    # it can only refuse early, and what it accepts is checked against the evaluator's ids.
    np.savez(cached, n_classes=np.int64(2), test=np.arange(10), holdout=np.arange(10))
    lied = _evaluate(str(short), "--task", "breast-cancer", env=env)
    assert lied["exit"] == 2 and "does not match the split" in lied["err"], lied


def test_an_export_of_the_pair_is_enough(tmp_path: Path, env: dict[str, str]) -> None:
    """The usual order is export, then evaluate: the export already warms the cache."""
    command = ["bench", "export-public", "--task", "digits-ge5", "--seed", "43"]
    export = subprocess.run(
        [sys.executable, "-m", "aar", *command, str(tmp_path / "public")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert export.returncode == 0, export.stderr
    short = tmp_path / "short.npy"
    np.save(short, np.full((10, 2), 0.5))
    refused = _evaluate(str(short), "--task", "digits-ge5", "--seed", "43", env=env)
    assert refused["exit"] == 2 and "does not match the split" in refused["err"], refused
    assert refused["heavy"] == [], refused
