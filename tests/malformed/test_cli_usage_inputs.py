"""Usage errors of every `aar` command: one line, exit 2, and no heavy import paid first.

The command tree is walked, so a new command joins these checks without being listed:
unknown options, numbers that are not numbers, and missing required arguments.
"""

from __future__ import annotations

import ast
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
    # issue 18's slow refusals: each took over a second (torch, scikit-learn or pydantic-ai first)
    Case("run-device-cuda-99", ("bench", "run", "--device", "cuda:99"), "CUDA is not available"),
    Case("list-device-cuda-99", ("bench", "list", "--device", "cuda:99"), "CUDA is not available"),
    Case(
        "sandbox-timeout-huge",
        ("sandbox", "exec", "{ws}/e.py", "--timeout", "1e9"),
        "longer than the experiment's wall clock",
        files={"e.py": "1\n"},
    ),
    Case(
        "run-usd-unpriced",
        ("run", "--model", "openai:no-such-model-x", "--budget-usd", "1"),
        "--budget-usd needs a price for openai:no-such-model-x",
    ),
    Case(
        "memory-cache-in-proc",
        ("bench", "run"),
        r"memory\.cache_dir: is under /proc",
        files={"aar.toml": '[memory]\ncache_dir = "/proc/aar-x"\n'},
    ),
    Case(
        "review-key-in-proc",
        ("bench", "run"),
        r"review\.key_file: is under /proc",
        files={"aar.toml": '[review]\nkey_file = "/proc/self/environ"\n'},
    ),
]


_RUN_ALL = """
import json, os, sys, traceback
from typer.testing import CliRunner
from aar.cli import app
from aar.config import get_settings
heavy, cases, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), {}
for case in cases:
    os.chdir(case["cwd"])
    get_settings.cache_clear()
    result = CliRunner().invoke(app, case["args"])
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(result.exception))
    loaded = [m for m in heavy if m in sys.modules]
    out[case["name"]] = {"exit": result.exit_code, "stdout": result.stdout, "stderr": err,
                         "heavy": loaded}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def light_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every LIGHT_CASE in one fresh process, one after another: a heavy module imported by
    any case stays in `sys.modules`, so each case's list names what it (or one before) loaded."""
    import json
    import os

    from malformed_support import fill, snapshot, write_files

    root = tmp_path_factory.mktemp("light")
    spec, snapshots = [], {}
    for case in LIGHT_CASES:
        ws = root / case.name
        ws.mkdir()
        write_files(ws, case.files)
        snapshots[case.name] = (ws, snapshot(ws))
        spec.append({"name": case.name, "cwd": str(ws), "args": [fill(a, ws) for a in case.args]})
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AAR_")}
    env |= {"AAR_BENCH__KEY_FILE": os.environ["AAR_BENCH__KEY_FILE"], "COLUMNS": "250"}
    env |= {"AAR_BENCH__CACHE_DIR": str(root / "cache"), "AAR_MEMORY_PATH": str(root / "m")}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_ALL, json.dumps(HEAVY), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for name, (ws, before) in snapshots.items():
        results[name]["unchanged"] = (before, snapshot(ws))
    return results


@pytest.mark.parametrize("case", LIGHT_CASES, ids=lambda c: c.name)
def test_usage_errors_come_before_heavy_imports(case: Case, light_results: dict) -> None:
    """In a fresh process: one line, exit 2, files unchanged, and none of HEAVY imported."""
    from malformed_support import Outcome, assert_unchanged

    res = light_results[case.name]
    assert_one_error_line(Outcome(res["exit"], res["stdout"], res["stderr"]), 2, case.match)
    assert res["heavy"] == [], f"imported by this usage error or one before it: {res['heavy']}"
    assert_unchanged(*res["unchanged"])


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
    # The TYPE_CHECKING imports (what mypy and IDEs see) name the same modules and names.
    tree = ast.parse(Path(bench.__file__).read_text())
    (block,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    typed = {
        imp.module: {a.name for a in imp.names}
        for imp in block.body
        if isinstance(imp, ast.ImportFrom)
    }
    assert typed == {module: set(names) for module, names in bench._EXPORTS.items()}


def test_builtin_task_names_are_what_the_tasks_register() -> None:
    """The names the CLI checks without importing the tasks are exactly the built-in ones."""
    from aar.bench import list_tasks
    from aar.bench._registry import BUILTIN_TASK_NAMES

    builtin = {t.name for t in list_tasks() if type(t).__module__.startswith("aar.bench.tasks")}
    assert builtin == set(BUILTIN_TASK_NAMES)


def test_a_plugin_task_name_passes_the_fast_check(workspace: Path, tmp_path: Path) -> None:
    """A name that is not built in is looked up after loading the configured plug-ins: the
    error for an unknown one lists the plug-in's task, so the plug-in was loaded and asked."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "malformed_plugin.py").write_text(
        "from aar.bench import Task, register_task\n"
        "class PlugTask(Task):\n"
        "    name, description = 'plug-x', 'a plug-in task'\n"
        "    weak_description = strong_description = 'none'\n"
        "    def load(self): raise NotImplementedError\n"
        "    def make_weak_model(self, seed): raise NotImplementedError\n"
        "register_task(PlugTask())\n"
    )
    env = {
        "AAR_BENCH__PLUGINS": '["malformed_plugin"]',
        "PYTHONPATH": str(plugins),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    unknown = ("bench", "export-public", "-t", "plug-y", "{ws}/e")
    check(
        Case("plug-y", unknown, "unknown task 'plug-y'.*plug-x", env=env, process=True), workspace
    )
