"""`aar bench run --method CONFIG.json` through the installed console script, as a user runs
it: a configuration file is a method named after the file, its configuration is in the JSON
summary, and every bad file is one line on stderr with exit code 2 (before any training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AAR = Path(sys.executable).with_name("aar")
LP_SELF = {
    "geometry": {"neighbours": 10, "weight": 0.9, "steps": 10},
    "training": {"self_training_rounds": 1},
}


def _aar(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script with its caches and runs under `tmp_path` and tables unwrapped."""
    env = {
        **os.environ,
        "AAR_BENCH__CACHE_DIR": str(tmp_path / "cache"),
        "AAR_RUNS_DIR": str(tmp_path / "runs"),
        "COLUMNS": "250",
    }
    return subprocess.run(
        [str(AAR), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def _run(tmp_path: Path, *methods: str) -> subprocess.CompletedProcess[str]:
    picks = [arg for m in methods for arg in ("-m", m)]
    return _aar(tmp_path, "bench", "run", "-t", "breast-cancer", *picks, "--seeds", "2",
                "--device", "cpu", "--out", str(tmp_path / "out"))  # fmt: skip


def test_a_configuration_file_runs_as_a_method_named_after_it(tmp_path: Path) -> None:
    config = tmp_path / "lp-self.json"
    config.write_text(json.dumps(LP_SELF))
    summary = tmp_path / "s.json"
    result = _aar(tmp_path, "bench", "run", "-t", "breast-cancer", "-m", "naive",
                  "-m", str(config), "--seeds", "2", "--device", "cpu",
                  "--out", str(tmp_path / "out"), "--json", str(summary))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if "lp-self" in line]
    assert len(rows) == 1 and "±" in rows[0], result.stdout  # one table row, with a PGR
    data = json.loads(summary.read_text())
    assert data["methods"] == ["naive", "lp-self"]
    task = data["tasks"]["breast-cancer"]
    assert set(task["methods"]) == {"naive", "lp-self"}
    assert len(task["methods"]["lp-self"]["seeds"]) == 2
    configs = data["method_configs"]
    assert configs["lp-self"]["geometry"] == {
        "neighbours": 10,
        "weight": 0.9,
        "steps": 10,
        "metric": "standardised",
    }
    assert configs["lp-self"]["training"]["self_training_rounds"] == 1
    assert configs["naive"]["geometry"]["neighbours"] == 0  # every field, defaults included
    assert configs["lp-self"]["labels"] == configs["naive"]["labels"]
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["method_configs"] == configs


def _refused(tmp_path: Path, method: str) -> str:
    """The single stderr line of a refused `--method` (exit 2, nothing written)."""
    result = _run(tmp_path, method)
    assert result.returncode == 2, result.stdout + result.stderr
    text = result.stderr.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert not (tmp_path / "out").exists()
    return text


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"geometry": {"neighbours": 1000}}', "geometry.neighbours"),
        ('{"labels": {"kind": "argmax"}}', "labels.kind"),
        ('{"training": {"early_stopping": true, "stop_early": 1}}', "training.stop_early"),
        ("[1, 2]", "not a valid method configuration"),
        ('{"geometry": ', "not a readable JSON configuration"),
    ],
)
def test_an_invalid_configuration_is_one_line_naming_the_problem(
    tmp_path: Path, content: str, said: str
) -> None:
    path = tmp_path / "mine.json"
    path.write_text(content)
    text = _refused(tmp_path, str(path))
    assert said in text and str(path) in text, text


def test_a_missing_file_a_directory_and_a_built_in_name_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    assert "no such configuration file" in _refused(tmp_path, str(missing))
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert "not a regular file" in _refused(tmp_path, str(folder))
    plain = tmp_path / "folder"
    plain.mkdir()
    assert "unknown method" in _refused(tmp_path, str(plain))
    shadow = tmp_path / "naive.json"
    shadow.write_text(json.dumps(LP_SELF))  # valid, but would pass for the built-in naive
    assert "built-in name" in _refused(tmp_path, str(shadow))


def test_a_huge_configuration_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from aar.bench import UnknownMethodError, parse_method
    from aar.bench._method_spec import MAX_CONFIG_BYTES

    big = tmp_path / "big.json"
    big.write_text('{"labels": {}' + " " * MAX_CONFIG_BYTES + "}")
    with pytest.raises(UnknownMethodError, match="is not a method configuration") as caught:
        parse_method(str(big))
    assert "\n" not in str(caught.value)
