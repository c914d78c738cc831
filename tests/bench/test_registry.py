"""The task registry: built-ins, registration rules, entry points and the plugins setting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import aar.bench._registry as registry_module
from aar.bench import StudentConfig, Task, TaskData, UnknownTaskError, get_task, list_tasks
from aar.bench._registry import (
    DuplicateTaskError,
    InvalidTaskError,
    TaskPluginError,
    TaskRegistry,
    register_task,
)

BUILTINS = {
    "breast-cancer",
    "digits-10",
    "digits-ge5",
    "rt-sentiment",
    "synthetic-gap-large",
    "synthetic-gap-medium",
    "synthetic-gap-small",
}

# A complete third-party task module, written into a temporary directory by the tests.
PLUGIN_SOURCE = textwrap.dedent(
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from aar.bench import StudentConfig, Task, TaskData, register_task

    class XorTask(Task):
        name = "{name}"
        description = "xor of two signs"
        weak_description = "logistic regression on x0"
        strong_description = "MLP on x0, x1"
        student = StudentConfig(hidden=(16,), epochs=5)

        def load(self):
            x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
            y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
            return TaskData(x_strong=x, x_weak=x[:, :1], y=y)

        def make_weak_model(self, seed):
            return LogisticRegression()

    {tail}
    """
)


class _Task(Task):
    description = "d"
    weak_description = "w"
    strong_description = "s"
    student = StudentConfig()

    def __init__(self, name: str = "my-task") -> None:
        self.name = name

    def load(self) -> TaskData:
        x = np.zeros((4, 1), np.float32)
        return TaskData(x_strong=x, x_weak=x, y=np.zeros(4, np.int64))

    def make_weak_model(self, seed: int):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def _empty(**kwargs: object) -> TaskRegistry:
    """A registry with no built-ins, no entry points and no plug-ins unless given."""
    kwargs.setdefault("builtin_modules", ())
    kwargs.setdefault("entry_point_group", None)
    kwargs.setdefault("plugins", ())
    return TaskRegistry(**kwargs)  # type: ignore[arg-type]


def _install(monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> TaskRegistry:
    """`_empty(...)` as the process-wide registry, so plug-ins' `register_task` lands in it."""
    reg = _empty(**kwargs)
    monkeypatch.setattr(registry_module, "_default", reg)
    return reg


def _write_distribution(root: Path, package: str, entry_points: str, source: str) -> None:
    """An installed-looking distribution: a package plus its dist-info with entry points."""
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(source)
    info = root / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[aar.tasks]\n{entry_points}\n")


def test_builtins_are_listed_sorted_and_found_by_name() -> None:
    names = [t.name for t in list_tasks()]
    assert set(names) >= BUILTINS
    assert names == sorted(names)
    for name in BUILTINS:
        task = get_task(name)
        assert task.name == name
        assert task.n_classes >= 2
        assert task.description and task.weak_description and task.strong_description


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(UnknownTaskError) as info:
        get_task("no-such-task")
    message = str(info.value)
    assert "no-such-task" in message
    assert all(name in message for name in BUILTINS)


def test_register_task_as_decorator_and_on_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch)

    @register_task
    class Decorated(_Task):
        name = "decorated"

        def __init__(self) -> None:
            pass

    assert isinstance(Decorated, type)  # the decorator returns the class itself
    instance = _Task("instance-task")
    assert register_task(instance) is instance
    assert register_task(instance) is instance  # same object again: no-op
    assert [t.name for t in list_tasks()] == ["decorated", "instance-task"]
    assert isinstance(get_task("decorated"), Decorated)


def test_duplicate_names_are_refused() -> None:
    reg = _empty()
    reg.register(_Task("twice"))
    with pytest.raises(DuplicateTaskError, match="two tasks are named 'twice'"):
        reg.register(_Task("twice"))


def test_a_user_task_cannot_take_a_builtin_name() -> None:
    list_tasks()  # built-ins loaded
    with pytest.raises(DuplicateTaskError, match=r"'digits-ge5'.*DigitsHighLowTask"):
        register_task(_Task("digits-ge5"))
    assert type(get_task("digits-ge5")).__name__ == "DigitsHighLowTask"


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (object(), "expects a Task"),
        (_Task("Bad Name"), "invalid name"),
        (_Task(""), "invalid name"),
    ],
)
def test_invalid_tasks_are_refused(task: object, message: str) -> None:
    with pytest.raises(InvalidTaskError, match=message):
        _empty().register(task)  # type: ignore[arg-type]


def test_register_task_refuses_a_non_task_class() -> None:
    with pytest.raises(InvalidTaskError, match="expects a Task subclass"):
        register_task(int)  # type: ignore[type-var]


def test_a_class_needing_arguments_must_be_registered_as_an_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install(monkeypatch)

    class NeedsName(_Task):
        def __init__(self, name: str) -> None:
            self.name = name

    with pytest.raises(InvalidTaskError, match="register an instance"):
        register_task(NeedsName)
    register_task(NeedsName("needs-name"))
    assert [t.name for t in list_tasks()] == ["needs-name"]


def test_entry_points_instance_class_and_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(
        tmp_path,
        "ep_inst",
        "xor = ep_inst:TASK",
        PLUGIN_SOURCE.format(name="ep-instance", tail="TASK = XorTask()"),
    )
    _write_distribution(
        tmp_path, "ep_cls", "xor = ep_cls:XorTask", PLUGIN_SOURCE.format(name="ep-class", tail="")
    )
    _write_distribution(
        tmp_path,
        "ep_mod",
        "xor = ep_mod",
        PLUGIN_SOURCE.format(name="ep-module", tail="register_task(XorTask())"),
    )
    _write_distribution(  # a decorated class: registered on import, not twice
        tmp_path,
        "ep_deco",
        "xor = ep_deco:XorTask",
        PLUGIN_SOURCE.format(name="ep-decorated", tail="XorTask = register_task(XorTask)"),
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _install(monkeypatch, entry_point_group="aar.tasks")
    names = {t.name for t in list_tasks()}
    assert {"ep-instance", "ep-class", "ep-module", "ep-decorated"} <= names
    data = get_task("ep-class").load()
    assert data.x_strong.shape == (200, 2)


def test_broken_entry_point_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(tmp_path, "ep_broken", "broken = ep_broken:MISSING", "")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaskPluginError, match=r"entry point 'broken'.*ep_broken:MISSING"):
        _empty(entry_point_group="aar.tasks").tasks()


def test_entry_point_to_a_non_task_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(tmp_path, "ep_int", "number = ep_int:N", "N = 3")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TaskPluginError, match="points to a int"):
        _empty(entry_point_group="aar.tasks").tasks()


def test_plugin_module_and_missing_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_plugin_tasks.py").write_text(
        PLUGIN_SOURCE.format(name="plugin-xor", tail="register_task(XorTask)")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _install(monkeypatch, plugins=["my_plugin_tasks"])
    assert get_task("plugin-xor").name == "plugin-xor"
    _install(monkeypatch, plugins=["not_a_module_xyz"])
    with pytest.raises(TaskPluginError, match=r"'not_a_module_xyz'.*ModuleNotFoundError"):
        list_tasks()


def _run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_plugins_setting_and_entry_point_in_a_fresh_process(tmp_path: Path) -> None:
    """The process-wide registry reads `AAR_BENCH__PLUGINS`, `aar.toml` and entry points."""
    (tmp_path / "env_plugin.py").write_text(
        PLUGIN_SOURCE.format(name="env-xor", tail="register_task(XorTask())")
    )
    (tmp_path / "toml_plugin.py").write_text(
        PLUGIN_SOURCE.format(name="toml-xor", tail="register_task(XorTask())")
    )
    (tmp_path / "aar.toml").write_text('[bench]\nplugins = ["toml_plugin"]\n')
    _write_distribution(
        tmp_path,
        "ep_fresh",
        "x = ep_fresh:T",
        PLUGIN_SOURCE.format(name="ep-xor", tail="T = XorTask()"),
    )
    code = "from aar.bench import list_tasks; print(' '.join(t.name for t in list_tasks()))"
    from_toml = _run_python(code, tmp_path)
    assert from_toml.returncode == 0, from_toml.stderr
    assert {"toml-xor", "ep-xor", "digits-ge5"} <= set(from_toml.stdout.split())
    # The environment wins over aar.toml; an unknown name is one line listing the valid ones.
    unknown = subprocess.run(
        [sys.executable, "-m", "aar", "bench", "list", "--task", "no-such-task"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "AAR_BENCH__PLUGINS": '["env_plugin"]'},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2, unknown.stderr
    assert "unknown task 'no-such-task'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    valid = unknown.stderr.split("valid tasks:")[1].replace(",", " ").split()
    assert {"env-xor", "ep-xor", "digits-ge5"} <= set(valid)
    assert "toml-xor" not in valid
