"""Usage errors of every `aar` command: one line, exit 2, and no heavy import paid first.

The command tree is walked, so a new command joins these checks without being listed:
unknown options, numbers that are not numbers, and missing required arguments.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from malformed_support import BAD_PATH_FILES, Case, assert_one_error_line, check, run_cli

HEAVY = ("torch", "sklearn", "scipy", "chromadb", "jupyter_client", "matplotlib", "onnxruntime")


def _commands() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) of every leaf command of the app."""
    import typer

    from aar.cli import app

    out = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        sub = getattr(cmd, "commands", None)
        if sub is None:
            out.append((path, cmd))
            return
        for name, child in sorted(sub.items()):
            walk(child, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


COMMANDS = _commands()


def _required_filler(cmd: object) -> list[str]:
    """Placeholder values for required options and arguments, so only one thing is wrong."""
    args: list[str] = []
    for param in cmd.params:  # type: ignore[attr-defined]
        if not param.required:
            continue
        if param.param_type_name == "option":
            args += [param.opts[0], "x"]
        else:
            args.append("x")
    return args


def _is_number(param: object) -> bool:
    """An int or float option (typer 0.2x keeps the annotation; click keeps a param type)."""
    click_type = getattr(getattr(param, "type", None), "name", None)
    if click_type is not None:
        return click_type in ("integer", "float")
    annotation = param.type_descriptor.annotation  # type: ignore[attr-defined]
    return annotation in (int, float) or bool(set(get_args(annotation)) & {int, float})


def _number_options() -> list[tuple[tuple[str, ...], str, list[str]]]:
    out = []
    for path, cmd in COMMANDS:
        for param in cmd.params:  # type: ignore[attr-defined]
            if param.param_type_name == "option" and _is_number(param):
                out.append((path, param.opts[0], _required_filler(cmd)))
    return out


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, tuple) else ""
)
def test_unknown_option(workspace: Path, path: tuple[str, ...], cmd: object) -> None:
    outcome = run_cli((*path, "--no-such-option"))
    assert_one_error_line(outcome, 2, "no such option")


@pytest.mark.parametrize(
    ("path", "option", "filler"),
    _number_options(),
    ids=lambda x: " ".join(x) if isinstance(x, tuple) else x if isinstance(x, str) else "",
)
@pytest.mark.parametrize("value", ["many", "1.5.2", ""])
def test_a_number_option_given_a_word(
    workspace: Path, path: tuple[str, ...], option: str, filler: list[str], value: str
) -> None:
    check(Case("word", (*path, option, value, *filler), f"invalid value for '{option}'"), workspace)


@pytest.mark.parametrize(
    "path",
    [p for p, cmd in COMMANDS if any(q.required for q in cmd.params)],  # type: ignore[attr-defined]
    ids=" ".join,
)
def test_missing_required_arguments(workspace: Path, path: tuple[str, ...]) -> None:
    check(Case("missing", path, "missing (argument|option)"), workspace)


# What a usage error may import: the check must come before torch, scikit-learn, chromadb...
LIGHT_CASES = [
    Case("run-task", ("bench", "run", "--task", "nosuch"), "unknown task"),
    Case("run-method", ("bench", "run", "-m", "magic"), "unknown method"),
    Case("run-device", ("bench", "run", "--device", "bogus"), "unknown device"),
    Case("run-seeds", ("bench", "run", "--seeds", "0"), "between 1 and 100"),
    Case("run-out", ("bench", "run", "--out", "{ws}/adir"), "not empty", files=BAD_PATH_FILES),
    Case("list-device", ("bench", "list", "--device", "bogus"), "unknown device"),
    Case("list-task", ("bench", "list", "-t", "nosuch"), "unknown task"),
    Case("export-task", ("bench", "export-public", "-t", "nosuch", "{ws}/e"), "unknown task"),
    Case(
        "evaluate-json",
        ("bench", "evaluate", "-t", "digits-ge5", "{ws}/p.json"),
        "'probs' must be a list",
        files={"p.json": '{"ids": [1], "probs": null}'},
    ),
    Case(
        "evaluate-seed",
        ("bench", "evaluate", "-t", "digits-ge5", "-s", "9" * 20, "{ws}/p.json"),
        "between 0 and",
    ),
    Case(
        "evaluate-log",
        ("bench", "evaluate", "-t", "digits-ge5", "{ws}/p.csv", "--log", "{ws}/afile"),
        "not an aar log",
        files={"p.csv": "id,prob\n1,0.5\n", **BAD_PATH_FILES},
    ),
    Case("sandbox-empty", ("sandbox", "exec", "{ws}/e.py"), "no code", files={"e.py": "# %%\n"}),
    Case(
        "sandbox-timeout",
        ("sandbox", "exec", "{ws}/e.py", "--timeout", "nan"),
        "finite",
        files={"e.py": "1\n"},
    ),
    Case("config", ("bench", "run"), r"aar\.toml", files={"aar.toml": "[bench]\nseedz = 1\n"}),
]


@pytest.mark.parametrize("case", LIGHT_CASES, ids=lambda c: c.name)
def test_usage_errors_come_before_heavy_imports(
    case: Case, workspace: Path, tmp_path: Path
) -> None:
    """In a fresh process: one line, exit 2, files unchanged, and none of HEAVY imported."""
    from malformed_support import assert_unchanged, fill, snapshot, write_files

    write_files(workspace, case.files)
    before = snapshot(workspace)
    report = tmp_path / "imported.txt"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(report)!r}, 'w').write("
        f"' '.join(m for m in {HEAVY!r} if m in sys.modules)))\n"
        f"sys.argv = ['aar', *{[fill(a, workspace) for a in case.args]!r}]\n"
        "from aar.cli import main\nmain()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=workspace
    )
    from malformed_support import Outcome

    assert_one_error_line(Outcome(proc.returncode, proc.stdout, proc.stderr), 2, case.match)
    assert report.read_text() == "", f"imported before the usage error: {report.read_text()}"
    assert_unchanged(before, snapshot(workspace))


def test_the_checks_themselves_are_light() -> None:
    """What the CLI checks with must not import torch or scikit-learn (in a fresh process)."""
    code = (
        "import sys\n"
        "from aar.bench import (EvalLog, check_device, check_label, check_seed,\n"
        "    check_task_names, parse_methods, read_submission, resolve_seeds)\n"
        "import aar.bench, aar.cli\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_every_public_bench_name_is_exported_lazily() -> None:
    import aar.bench as bench

    exported = {name for names in bench._EXPORTS.values() for name in names}
    assert exported == set(bench.__all__)
    for name in bench.__all__:
        assert getattr(bench, name) is not None


def test_builtin_task_names_are_what_the_tasks_register() -> None:
    """The names the CLI checks without importing the tasks are exactly the built-in ones."""
    from aar.bench import list_tasks
    from aar.bench._registry import BUILTIN_TASK_NAMES

    builtin = {t.name for t in list_tasks() if type(t).__module__.startswith("aar.bench.tasks")}
    assert builtin == set(BUILTIN_TASK_NAMES)


def test_a_plugin_task_name_passes_the_fast_check(workspace: Path, tmp_path: Path) -> None:
    """A name that is not built in is looked up after loading the configured plug-ins."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "malformed_plugin.py").write_text(
        "from aar.bench import register_task, make_synthetic_task\n"
        "register_task(make_synthetic_task(1.0, name='plug-x'))\n"
    )
    env = {
        "AAR_BENCH__PLUGINS": '["malformed_plugin"]',
        "PYTHONPATH": str(plugins),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    export = ("bench", "export-public", "-t", "plug-x", "{ws}/adir")
    check(Case("plug", export, "not empty", files=BAD_PATH_FILES, env=env, process=True), workspace)
    unknown = ("bench", "export-public", "-t", "plug-y", "{ws}/e")
    check(
        Case("plug-y", unknown, "unknown task 'plug-y'.*plug-x", env=env, process=True), workspace
    )
