"""`aar sandbox exec` with malformed arguments: refused before a kernel starts, one line.

Scripts that are empty, only `# %%` markers, binary, not UTF-8 or a directory; timeouts that
are not finite positive numbers or outlast the experiment; experiment directories that are
files, non-empty, under a regular file or in /proc.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from malformed_support import BAD_PATH_FILES, BAD_PATHS, Case, case_id, check

SCRIPT = {"s.py": "print('hi')\n"}
EXEC = ("sandbox", "exec")


def _script(name: str, content: str | bytes, match: str) -> Case:
    return Case(name, (*EXEC, "{ws}/s.py"), match, files={"s.py": content})


def _opts(name: str, args: tuple[str, ...], match: str) -> Case:
    return Case(name, (*EXEC, "{ws}/s.py", *args), match, files={**SCRIPT, **BAD_PATH_FILES})


CASES = [
    _script("script-empty", "", "has no code to run"),
    _script("script-only-markers", "# %%\n# %% second\n#%%\n", "has no code to run"),
    _script("script-markers-and-blanks", "\n\n# %%\n   \n\t\n# %%\n", "has no code to run"),
    _script("script-not-utf8", b"print('\xe9')\n", "not a UTF-8 text file"),
    _script("script-binary", bytes(range(256)), "not a UTF-8 text file"),
    _script("script-nul", b"print(1)\x00\n", "NUL bytes"),
    Case("script-missing", (*EXEC, "{ws}/nope.py"), "no such file"),
    Case("script-directory", (*EXEC, "{ws}/d.py"), "not a regular file", files={"d.py/x": ""}),
    _opts("timeout-nan", ("--timeout", "nan"), "--timeout must be positive and finite"),
    _opts("timeout-inf", ("--timeout", "inf"), "--timeout must be positive and finite"),
    _opts("timeout-minus-inf", ("--timeout", "-inf"), "--timeout must be positive"),
    _opts("timeout-negative", ("--timeout", "-1"), "--timeout must be positive"),
    _opts("timeout-zero", ("--timeout", "0"), "--timeout must be positive"),
    _opts("timeout-huge", ("--timeout", "1e300"), "longer than the experiment's wall clock"),
    _opts("timeout-word", ("--timeout", "soon"), "valid number"),
    _opts("task-without-seed", ("--task", "digits-ge5"), "--task and --seed go together"),
    _opts("seed-without-task", ("--seed", "1"), "--task and --seed go together"),
    _opts("task-unknown", ("--task", "nosuch", "--seed", "1"), "unknown task 'nosuch'"),
    _opts("seed-huge", ("--task", "digits-ge5", "--seed", "9" * 20), "between 0 and"),
    _opts("dir-is-file", ("--dir", "{ws}/afile"), "not a directory"),
    Case(
        "dir-in-link-loop",
        (*EXEC, "{ws}/s.py", "--dir", "{ws}/loop/x"),
        "looping symbolic link",
        files=SCRIPT,
        links={"loop": "{ws}/loop2", "loop2": "{ws}/loop"},
    ),
    Case(
        "script-link-loop",
        (*EXEC, "{ws}/loop"),
        "no such file|not a regular",
        links={"loop": "{ws}/loop2", "loop2": "{ws}/loop"},
    ),
    _opts("dir-not-empty", ("--dir", "{ws}/adir"), "exists and is not empty"),
    Case(
        "runs-dir-is-file",
        (*EXEC, "{ws}/s.py"),
        "not a directory",
        files={**SCRIPT, **BAD_PATH_FILES},
        env={"AAR_RUNS_DIR": "{ws}/afile"},
    ),
]
for _what, (_path, _match) in BAD_PATHS.items():
    if _what != "missing parent":  # an experiment directory is created with its parents
        CASES.append(_opts(f"dir-{_what.replace(' ', '-')}", ("--dir", _path), _match))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sandbox_exec_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)
