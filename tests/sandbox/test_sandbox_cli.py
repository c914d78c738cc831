"""`aar sandbox exec` and `aar sandbox check`, called the way a user calls them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from sandbox_support import make_public_task
from typer.testing import CliRunner

import aar.bench
from aar.cli import app

SCRIPT = """\
import numpy as np
x = np.arange(4)
print(x.sum())
# %% second cell
x.mean()
# %%
import matplotlib.pyplot as plt
plt.plot(x); plt.show()
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_exec_json_all_ok(tmp_path: Path) -> None:
    script = tmp_path / "exp.py"
    script.write_text(SCRIPT)
    code, out, _ = _run("sandbox", "exec", str(script), "--json", "--dir", str(tmp_path / "e"))
    assert code == 0, out
    doc = json.loads(out)
    assert [c["status"] for c in doc["cells"]] == ["ok", "ok", "ok"]
    assert doc["cells"][0]["stdout"] == "6\n" and doc["cells"][0]["error"] is None
    assert set(doc["cells"][0]) == {"status", "stdout", "stderr", "error", "duration_s"}
    assert doc["unsafe"] is False
    nb = nbformat.read(doc["notebook"], as_version=4)
    assert len(nb.cells) == 3 and nb.cells[1].source == "x.mean()"


def test_exec_failure_exit_1_and_human_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "bad.py"
    script.write_text("print('before')\n# %%\n1/0\n# %%\nprint('never')\n")
    monkeypatch.chdir(tmp_path)  # default experiment dir: ./runs/sandbox-<time>-bad
    code, out, err = _run("sandbox", "exec", str(script))
    assert code == 1
    assert "cell 1/3 ok" in out and "before" in out
    assert "cell 2/3 error" in out and "ZeroDivisionError" in out and "never" not in out
    assert "1 cell(s) not run" in err and "notebook:" in err
    assert len(list((tmp_path / "runs").glob("sandbox-*-bad/notebook.ipynb"))) == 1


def test_exec_timeout_and_keep_going(tmp_path: Path) -> None:
    script = tmp_path / "loop.py"
    script.write_text("while True:\n    pass\n# %%\nprint('after')\n")
    args = ["sandbox", "exec", str(script), "--timeout", "1", "--keep-going", "--json"]
    code, out, _ = _run(*args, "--dir", str(tmp_path / "e"))
    doc = json.loads(out)
    assert code == 1
    assert [c["status"] for c in doc["cells"]] == ["timeout", "ok"]
    assert "interrupted" in doc["cells"][0]["error"] and doc["cells"][1]["stdout"] == "after\n"


def test_exec_with_task_mounts_public_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_export(task: str, seed: int, directory: Path) -> Path:
        calls.append((task, seed))
        return make_public_task(Path(directory))

    monkeypatch.setattr(aar.bench, "export_public", fake_export, raising=False)
    monkeypatch.setattr(aar.bench, "check_task_names", lambda names: None, raising=False)
    script = tmp_path / "t.py"
    script.write_text("import aar_kernel\nprint(aar_kernel.load_task().test_inputs.shape)\n")
    exp = tmp_path / "e"
    code, out, _ = _run(
        "sandbox",
        "exec",
        str(script),
        "--task",
        "fake",
        "--seed",
        "43",
        "--json",
        "--dir",
        str(exp),
    )
    assert code == 0, out
    assert calls == [("fake", 43)]
    assert json.loads(out)["cells"][0]["stdout"] == "(20, 4)\n"
    assert (exp / "task" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "no such file"),
        (["{script}", "--task", "x"], "--task and --seed go together"),
        (["{script}", "--timeout", "0"], "--timeout must be positive"),
        (["{script}", "--timeout", "nan"], "--timeout must be positive"),
        (["{script}", "--dir", "{nonempty}"], "exists and is not empty"),
    ],
)
def test_exec_usage_errors_are_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    script = tmp_path / "s.py"
    script.write_text("1")
    nonempty = tmp_path / "full"
    nonempty.mkdir()
    (nonempty / "x").write_text("keep")
    filled = [a.format(script=script, nonempty=nonempty) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "aar", "sandbox", "exec", *filled],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    code, err = proc.returncode, proc.stderr
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert (nonempty / "x").read_text() == "keep"


def test_unsafe_flag_is_loud(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("print('hi')")
    code, out, err = _run(
        "sandbox",
        "exec",
        str(script),
        "--unsafe-no-sandbox",
        "--json",
        "--dir",
        str(tmp_path / "e"),
    )
    assert code == 0 and "UNSAFE" in err
    assert json.loads(out)["unsafe"] is True


def test_check_console_script() -> None:
    aar_bin = Path(sys.executable).parent / "aar"
    proc = subprocess.run(
        [str(aar_bin), "sandbox", "check", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["available"] and all(p["active"] for p in report["protections"])


@pytest.mark.slow
def test_exec_real_task_end_to_end(tmp_path: Path) -> None:
    """Real `export_public`, real kernel, predictions the evaluator's loader accepts."""
    from aar.bench._evaluator import load_predictions

    script = tmp_path / "w2s.py"
    script.write_text(
        "import aar_kernel, numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "t = aar_kernel.load_task()\n"
        "# %%\n"
        "clf = LogisticRegression(max_iter=500)\n"
        "clf.fit(t.transfer_inputs, t.transfer_weak_labels.argmax(1))\n"
        "print(aar_kernel.save_predictions(clf.predict_proba(t.test_inputs), name='lr'))\n"
    )
    exp = tmp_path / "exp"
    args = [
        "exec",
        str(script),
        "--task",
        "digits-ge5",
        "--seed",
        "42",
        "--json",
        "--dir",
        str(exp),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "aar", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = json.loads(proc.stdout)
    assert doc["cells"][1]["stdout"] == "/scratch/predictions/lr.test.npy\n"
    labels = sorted(p.name for p in (exp / "task").glob("*label*"))
    assert labels == ["test_weak_labels.npy", "transfer_weak_labels.npy"]  # no ground truth
    ids = np.load(exp / "task" / "test_ids.npy")
    probs = load_predictions(exp / "scratch" / "predictions" / "lr.test.npy", ids, 2)
    assert probs.shape == (len(ids), 2)


def test_exec_with_task_loads_it_by_name_as_the_kernel_api_says(tmp_path: Path) -> None:
    """`aar sandbox exec exp.py --task digits-ge5 --seed 42` on code that calls
    `load_task("digits-ge5", 42)`, the call the kernel API tells a model to use, so a reviewer
    can re-run a session's code this way; the unnamed `load_task()` still works too."""
    script = tmp_path / "exp.py"
    script.write_text(
        "import aar_kernel\n"
        "t = aar_kernel.load_task('digits-ge5', 42)\n"
        "print(t.manifest['task'], t.manifest['seed'], t.test_inputs.shape == "
        "aar_kernel.load_task().test_inputs.shape)\n"
    )
    command = ["exec", "exp.py", "--task", "digits-ge5", "--seed", "42", "--json", "--dir", "exp"]
    proc = subprocess.run(
        [sys.executable, "-m", "aar", "sandbox", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["cells"][0]["stdout"] == "digits-ge5 42 True\n"


def test_without_bubblewrap_exec_refuses_and_check_says_why(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("print('must not run')")
    env = os.environ | {"PATH": str(tmp_path)}  # no bwrap, no prlimit
    base = [sys.executable, "-m", "aar", "sandbox"]
    run = subprocess.run(
        [*base, "exec", str(script), "--dir", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 2
    assert "sandbox unavailable" in run.stderr and "apt-get install bubblewrap" in run.stderr
    assert "Traceback" not in run.stderr and "must not run" not in run.stdout
    check = subprocess.run([*base, "check"], capture_output=True, text=True, timeout=60, env=env)
    assert check.returncode == 1 and "bubblewrap" in check.stdout
