"""The sandbox policy ships in the wheel: a non-editable install can isolate a kernel.

The wheel is built from this checkout and installed without `-e` into a fresh venv made from
Debian's /usr/bin/python3; its dependencies come from the project venv through a `.pth` line
(so torch is not installed twice, and nothing is downloaded). aar, and the repository, must
then be invisible in the kernel just as in the editable install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from aar.sandbox.conformance import REPO

PYTHON = "/usr/bin/python3"


def _run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(PYTHON).exists():
        pytest.skip("needs Debian's /usr/bin/python3")
    root = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        root / "dist",
        REPO,
        timeout=600,
    )
    wheel = next((root / "dist").glob("aar-*.whl"))
    venv = root / "venv"
    _run(PYTHON, "-m", "venv", venv)
    site = Path(
        _run(
            venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"
        ).strip()
    )
    (site / "aar-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    return venv


@pytest.mark.slow
def test_wheel_carries_the_policy(wheel_venv: Path) -> None:
    where = _run(
        wheel_venv / "bin" / "python",
        "-c",
        "import aar, aar.sandbox as s; print(aar.__file__); print(s.default_policy_dir())",
        cwd=wheel_venv,
    )
    package, policy = where.split()
    assert str(wheel_venv) in package and REPO.as_posix() not in package
    assert policy.endswith("aar/_sandbox_policy") and (Path(policy) / "policy.toml").is_file()


@pytest.mark.slow
def test_wheel_install_checks_and_runs_a_sandbox(wheel_venv: Path, tmp_path: Path) -> None:
    aar = wheel_venv / "bin" / "aar"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = subprocess.run(
        [aar, "sandbox", "check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "isolation works" in check.stdout
    script = tmp_path / "exp.py"
    script.write_text(
        "# %%\nimport importlib.util, sys, aar_kernel\n"
        "t = aar_kernel.load_task()\n"
        "print('AAR', importlib.util.find_spec('aar'), 'TASK', t.manifest['task'])\n"
        f"print('REPO', __import__('os').path.exists({str(REPO / 'pyproject.toml')!r}))\n"
        "import aar_methods\nprint('LIB', aar_methods.LIBRARY_SHA256)\n"
    )
    run = subprocess.run(
        [
            aar,
            "sandbox",
            "exec",
            script,
            "--task",
            "digits-ge5",
            "--seed",
            "42",
            "--dir",
            tmp_path / "exp",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "AAR None TASK digits-ge5" in run.stdout and "REPO False" in run.stdout
    from aar.bench._train import library_sha256  # the method library ships and is importable

    assert f"LIB {library_sha256()}" in run.stdout
