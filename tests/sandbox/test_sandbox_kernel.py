"""The execution API on a real sandboxed kernel: results, notebook, task helper, pool, failures."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from sandbox_support import make_public_task, small_policy

from aar.sandbox import (
    KernelPool,
    KernelSandbox,
    SandboxUnavailableError,
    SandboxUsageError,
    check_isolation,
)
from aar.sandbox._procfs import processes_of_uid


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> KernelSandbox:
    root = tmp_path_factory.mktemp("kernel")
    task = make_public_task(root / "public")
    with KernelSandbox(root / "exp", task_dir=task, policy=small_policy(memory_mb=4096)) as sbx:
        yield sbx


def test_outputs_state_and_errors(sandbox: KernelSandbox) -> None:
    first = sandbox.run_cell("x = 20\nprint('out'); import sys; print('err', file=sys.stderr)\nx")
    assert (first.status, first.stdout, first.stderr, first.text) == ("ok", "out\n", "err\n", "20")
    assert first.duration_s > 0 and first.peak_memory_mb and first.peak_memory_mb > 10
    assert sandbox.run_cell("x * 2").text == "40"  # state persists between cells
    failed = sandbox.run_cell("def f():\n    raise ValueError('bad value')\nf()")
    assert failed.status == "error" and failed.error is not None
    assert failed.error.ename == "ValueError" and failed.error.evalue == "bad value"
    assert any("f()" in line for line in failed.error.traceback)
    assert failed.summary() == "ValueError: bad value"


@pytest.mark.slow
def test_matplotlib_png_and_ml_libraries(sandbox: KernelSandbox) -> None:
    result = sandbox.run_cell(
        "import numpy, sklearn, torch, matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 3, 2]); plt.show()\n"
        "print(matplotlib.get_backend(), torch.tensor([1.0, 2.0]).sum().item())",
        timeout=120,
    )
    assert result.status == "ok", result
    assert "3.0" in result.stdout and "inline" in result.stdout
    assert result.images and result.images[0].startswith(b"\x89PNG")


def test_task_helper_loads_public_files_and_saves_predictions(sandbox: KernelSandbox) -> None:
    result = sandbox.run_cell(
        "import aar_kernel\n"
        "task = aar_kernel.load_task()\n"
        "print(task.manifest['task'], task.transfer_inputs.shape, task.test_texts)\n"
        "print(sorted(k for k in task if 'label' in k))\n"
        "import numpy as np\n"
        "p = np.full((len(task.test_inputs), 2), 0.5)\n"
        "print(aar_kernel.save_predictions(p, split='test', name='uniform'))"
    )
    assert result.status == "ok", result
    assert "fake (40, 4) ['a', 'b']" in result.stdout
    assert "['test_weak_labels', 'transfer_weak_labels']" in result.stdout
    assert "/scratch/predictions/uniform.test.npy" in result.stdout
    saved = np.load(sandbox.scratch_file("predictions/uniform.test.npy"))
    assert saved.shape == (20, 2)
    bad = sandbox.run_cell("aar_kernel.save_predictions([float('nan')])")
    assert bad.status == "error" and bad.error and bad.error.ename == "ValueError"
    with pytest.raises(SandboxUsageError):
        sandbox.scratch_file("../task/manifest.json")


def test_notebook_is_valid_and_records_every_cell(sandbox: KernelSandbox) -> None:
    sandbox.run_cell("from IPython.display import HTML, display\ndisplay(HTML('<b>x</b>'))")
    sandbox.run_cell("raise KeyError('k')")
    sandbox.run_cell("print('logged')")
    nb = nbformat.read(sandbox.save_notebook(), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["aar"] == {"isolation": "bwrap", "unsafe": False}
    last = nb.cells[-1]
    assert last.source == "print('logged')"
    assert last.outputs[0]["text"] == "logged\n"
    assert last.metadata["aar"]["status"] == "ok"
    statuses = [c.metadata["aar"]["status"] for c in nb.cells]
    assert "error" in statuses
    assert any(o.get("output_type") == "display_data" for c in nb.cells for o in c.outputs)


def test_scratch_is_given_back_to_the_host_user(tmp_path: Path) -> None:
    with KernelSandbox(tmp_path / "exp", policy=small_policy()) as sbx:
        sbx.run_cell("open('/scratch/made-inside.txt', 'w').write('x')")
        inside_uid = os.stat(tmp_path / "exp" / "scratch" / "made-inside.txt").st_uid
        assert inside_uid == sbx.uid != os.geteuid()
    assert os.stat(tmp_path / "exp" / "scratch" / "made-inside.txt").st_uid == os.geteuid()


def test_restart_loses_state_keeps_scratch(tmp_path: Path) -> None:
    with KernelSandbox(tmp_path / "exp", policy=small_policy()) as sbx:
        sbx.run_cell("y = 1\nopen('kept.txt', 'w').write('kept')")
        sbx.restart()
        assert sbx.run_cell("y").error.ename == "NameError"  # type: ignore[union-attr]
        assert sbx.run_cell("print(open('kept.txt').read())").stdout == "kept\n"


@pytest.mark.slow
def test_pool_hands_out_ready_kernels_and_refills(tmp_path: Path) -> None:
    task = make_public_task(tmp_path / "public")
    with KernelPool(1, root=tmp_path / "runs" / ".pool", policy=small_policy()) as pool:
        assert pool.wait_ready(60), pool.last_error
        first = pool.acquire(tmp_path / "runs" / "a", task_dir=task)
        with first:
            assert first.experiment_dir == tmp_path / "runs" / "a"
            out = first.run_cell("import os; print(os.getcwd(), sorted(os.listdir('/task'))[0])")
            assert out.stdout == "/scratch holdout_inputs.npy\n"
        assert (tmp_path / "runs" / "a" / "notebook.ipynb").exists()
        assert pool.wait_ready(60)  # refilled with a fresh kernel, not the used one
        with pool.acquire(tmp_path / "runs" / "b") as second:
            assert second.uid != first.uid
            assert second.run_cell("import os; os.listdir('/scratch')").text == "[]"
        with pytest.raises(SandboxUsageError, match="not empty"):
            pool.acquire(tmp_path / "runs" / "a")
    assert not any((tmp_path / "runs" / ".pool").iterdir())


def test_unsafe_mode_is_marked_everywhere(tmp_path: Path) -> None:
    policy = small_policy().model_copy(update={"isolation": "none"})
    with KernelSandbox(tmp_path / "exp", policy=policy) as sbx:
        result = sbx.run_cell("1 + 1")
    assert result.unsafe and result.text == "2" and "UNSAFE" in (result.message or "")
    nb = nbformat.read(tmp_path / "exp" / "notebook.ipynb", as_version=4)
    assert nb.metadata["aar"]["unsafe"] is True
    assert check_isolation(policy).message.startswith("UNSAFE")


def _fake_bin(tmp_path: Path, bwrap_script: str | None) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if bwrap_script is not None:
        fake = bin_dir / "bwrap"
        fake.write_text(bwrap_script)
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (None, "bwrap"),
        (
            "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
            "user namespaces",
        ),
    ],
    ids=["bwrap-missing", "no-user-namespaces"],
)
def test_fails_closed_without_isolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str | None, expected: str
) -> None:
    path = _fake_bin(tmp_path, script)
    monkeypatch.setenv("PATH", path + ("" if script is None else ":/usr/bin:/bin"))
    sbx = KernelSandbox(tmp_path / "exp", policy=small_policy())
    with pytest.raises(SandboxUnavailableError, match=expected):
        sbx.start()
    assert not (tmp_path / "exp" / "notebook.ipynb").exists()
    report = check_isolation(small_policy())
    assert not report.available and expected in report.message and not report.all_active


def test_check_isolation_reports_every_protection_active() -> None:
    report = check_isolation(small_policy())
    assert report.available, report.message
    inactive = [p for p in report.protections if not p.active]
    assert inactive == [], inactive
    names = {p.name for p in report.protections}
    assert {"network", "unprivileged uid", "ground truth and host paths hidden", "rlimits"} <= names
    hidden = {h.path: h for h in report.hidden}
    assert not [h for h in report.hidden if h.visible]
    data = [p for p in hidden if p.endswith("sklearn/datasets/data")]
    assert data and hidden[data[0]].how == "masked" and "labels" in hidden[data[0]].why
    assert "scikit-learn" in report.distributions and "aar" not in report.distributions


def test_host_crash_leaves_no_orphans(tmp_path: Path) -> None:
    """SIGKILL of the host process: bwrap's --die-with-parent takes the whole sandbox down."""
    code = (
        "import sys, time\n"
        "from sandbox_support import small_policy\n"
        "from aar.sandbox import KernelSandbox\n"
        f"s = KernelSandbox({str(tmp_path / 'exp')!r}, policy=small_policy()).start()\n"
        "s.run_cell('import os\\nif os.fork() == 0:\\n    import time; time.sleep(600)')\n"
        "print(s.uid, flush=True)\n"
        "time.sleep(600)\n"
    )
    host = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parent)},
    )
    try:
        uid = int(host.stdout.readline())  # type: ignore[union-attr]
        assert len(processes_of_uid(uid)) >= 2  # kernel + its forked child
    finally:
        host.kill()
        host.wait()
    deadline = time.monotonic() + 10
    while processes_of_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of_uid(uid) == []


@pytest.mark.slow
def test_pool_clock_starts_at_hand_out(tmp_path: Path) -> None:
    policy = small_policy(experiment_timeout_s=4)  # a first cell must fit on a busy machine
    with KernelPool(1, root=tmp_path / ".pool", policy=policy) as pool:
        assert pool.wait_ready(60), pool.last_error
        time.sleep(4.5)  # waiting longer than an experiment may last
        with pool.acquire(tmp_path / "exp") as sandbox:
            first = sandbox.run_cell("1 + 1")
            assert first.text == "2", first
            time.sleep(4.5)
            late = sandbox.run_cell("1 + 1")
    assert late.status == "killed" and "experiment wall-clock" in (late.message or "")


def test_read_only_bind_under_tmp_is_visible(tmp_path: Path) -> None:
    """A venv or checkout under /tmp (CI may clone there) must not be hidden by the fresh /tmp."""
    shared = tmp_path / "bound-under-tmp"
    shared.mkdir()
    (shared / "hello.txt").write_text("visible")
    policy = small_policy()
    mounts = policy.mounts.model_copy(update={"readonly": [*policy.mounts.readonly, str(shared)]})
    policy = policy.model_copy(update={"mounts": mounts})
    with KernelSandbox(tmp_path / "exp", policy=policy) as sbx:
        result = sbx.run_cell(f"print(open({str(shared / 'hello.txt')!r}).read())", timeout=30)
        assert result.status == "ok", result
        assert result.stdout.strip() == "visible"
        written = sbx.run_cell(f"open({str(shared / 'x')!r}, 'w')", timeout=30)
        assert written.status == "error" and not (shared / "x").exists()


def test_pool_removes_slots_of_dead_processes_only(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    root = tmp_path / ".pool"
    orphan = root / f"slot-{int(gone.stdout)}-0123456789ab"
    mine = root / f"slot-{os.getpid()}-0123456789ab"
    unparsed = root / "slot-notapid-0123456789ab"
    for slot in (orphan, mine, unparsed):
        (slot / "scratch").mkdir(parents=True)
    with KernelPool(0, root=root, policy=small_policy()):
        assert not orphan.exists()
        assert mine.is_dir() and unparsed.is_dir()
