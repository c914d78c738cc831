"""The experiment-code library: every family's script runs in a real sandbox and is scored.

The fast tests check the registry and the scripts as text (syntax, imports, ruff, layout, the
checks on what callers pass). The slow ones start one isolating kernel with the public export
of 2 tasks x 2 seeds mounted, every task's label sources hidden, run every family's script in
it, and score what was saved with a real `Evaluator`.
"""

from __future__ import annotations

import ast
import io
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from aar.agent import (
    BASELINE_FAMILY,
    FAMILIES,
    ExperimentCodeError,
    experiment_code,
    get_family,
    method_name,
)
from aar.bench import (
    Evaluator,
    export_public_many,
    label_sources,
    load_predictions,
    with_balanced_hardening,
)
from aar.errors import AarError
from aar.hashing import join_cells
from aar.sandbox import CellResult, KernelSandbox, load_policy, split_cells

TASKS = ("digits-ge5", "digits-10")  # binary and multiclass paths of every family
SEEDS = (42, 43)
PAIRS = [(t, s) for t in TASKS for s in SEEDS]
SPLITS = ("test", "holdout")
KERNEL_MODULES = {"aar_kernel", "aar_methods", "numpy", "shutil", "time"}
REQUIRED = {
    "naive",
    "logconf",
    "bootstrap",
    "early_stopping",
    "confidence_filter",
    "cotrain",
    "label_smoothing",
    "temperature",
    "control_random_flip",
    "control_hard_labels",
}
RERUN = ("naive", "cotrain", "control_random_flip")  # the ones drawing extra random numbers


# ---------------------------------------------------------------- the registry and the text


def test_registry_holds_every_family_with_a_usable_parameter() -> None:
    assert set(FAMILIES) >= REQUIRED and BASELINE_FAMILY == "naive"
    assert {n for n, f in FAMILIES.items() if f.control} == {
        "control_random_flip",
        "control_hard_labels",
        "control_self_distillation",
    }
    for name, family in FAMILIES.items():
        assert family.name == name and get_family(name) is family
        assert 20 < len(family.method) < 400 and "\n" not in family.hypothesis_template
        statement = family.hypothesis(["digits-ge5", "rt-sentiment"])
        assert "digits-ge5, rt-sentiment" in statement and "{" not in statement
        param = family.param
        if param is None:
            continue
        assert param.default in param.grid and len(param.grid) >= 3
        assert all(param.check(v) == v for v in param.grid)
        assert f"{param.default:g}" in statement
        assert family.hypothesis(["t"], param.grid[0]) != family.hypothesis(["t"], param.grid[-1])


def test_every_family_is_a_method_of_the_shared_library() -> None:
    """The training code of every family is the kernel's library (what `aar bench run` loads
    too), not a string in the script: a script's method cell only calls the library. The ten
    original families call `aar_methods`; the method space's call `aar_recipes` with the
    family's configuration (`FAMILY_CONFIGS`, the one definition), pinning both digests."""
    from aar.bench._train import library, library_sha256, recipes, recipes_sha256

    original = {n for n, f in FAMILIES.items() if f.config is None}
    assert original == set(library().METHODS)
    assert set(FAMILIES) <= set(recipes().FAMILY_CONFIGS)
    for family, spec in FAMILIES.items():
        cells = split_cells(experiment_code(family, method=family, pairs=PAIRS))
        assert f'LIBRARY_SHA256 = "{library_sha256()}"' in cells[0]
        assert "aar_methods.require(LIBRARY_SHA256)" in cells[0]
        assert f'FAMILY = "{family}"' in cells[0]
        body = [ln for ln in cells[1].splitlines() if ln and not ln.lstrip().startswith("#")]
        assert len(body) == 4, body  # def, 2-line docstring, return: no training code
        if spec.config is None:
            want = (
                "return aar_methods.train_public_seeds(FAMILY, files, seeds, PARAMS, batch=STACKED)"
            )
            assert body[-1].strip() == want
            # naive, the scorer's reference, trains each seed alone as the Evaluator does
            assert f"STACKED = {family != 'naive'}" in cells[0]
            continue
        assert body[-1].strip() == "return aar_recipes.train_public_seeds(CONFIG, files, seeds)"
        assert f'RECIPES_SHA256 = "{recipes_sha256()}"' in cells[0]
        assert "aar_recipes.require(RECIPES_SHA256)" in cells[0]
        namespace: dict = {}
        config_lines = cells[0][cells[0].index("CONFIG = ") :].split("\nPAIRS")[0]
        exec(config_lines, namespace)
        held = recipes().MethodConfig.model_validate(namespace["CONFIG"])
        family_config = recipes().FAMILY_CONFIGS[family].model_dump()
        assert held.model_dump() == with_balanced_hardening(family_config)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_scripts_compile_and_import_nothing_but_the_kernel_allow_list(family: str) -> None:
    code = experiment_code(family, method=family, pairs=PAIRS)
    imported = set()
    for cell in split_cells(code):
        for node in ast.walk(ast.parse(cell)):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
    space = set() if FAMILIES[family].config is None else {"aar_recipes"}
    assert imported == KERNEL_MODULES | space
    assert "import aar\n" not in code and "from aar" not in code


def test_scripts_are_ruff_clean(tmp_path: Path) -> None:
    """People review these scripts before approving a follow-up: they get the repo's style."""
    for family in FAMILIES:
        code = experiment_code(family, method=family, pairs=PAIRS)
        (tmp_path / f"{family}.py").write_text(code)
        for i, cell in enumerate(split_cells(code)):
            (tmp_path / "cells").mkdir(exist_ok=True)
            (tmp_path / "cells" / f"{family}_{i}.py").write_text(cell + "\n")
    ruff = [sys.executable, "-m", "ruff"]
    opts = ["--no-cache", "--isolated", "--line-length", "100"]
    rules = ["--select", "E,F,W,B,UP,RUF,I,SIM,C4"]
    scripts = sorted(str(p) for p in tmp_path.glob("*.py"))
    checked = subprocess.run([*ruff, "check", *opts, *rules, *scripts], capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode()[-3000:]
    formatted = subprocess.run(
        [*ruff, "format", "--check", *opts, str(tmp_path / "cells")], capture_output=True
    )
    assert formatted.returncode == 0, formatted.stdout.decode()[-3000:]


def test_cells_are_setup_method_one_per_task_and_a_final_check() -> None:
    code = experiment_code("logconf", method="logconf-a", params={"aux_coef": 0.25}, pairs=PAIRS)
    cells = split_cells(code)
    assert join_cells(cells) == code  # the canonical script evaluation records hash
    assert len(cells) == 2 + len(TASKS) + 1
    assert 'METHOD = "logconf-a"' in cells[0]
    assert 'PARAMS = {"aux_coef": 0.25}' in cells[0]
    assert 'WANTED = [("digits-ge5", 42), ("digits-ge5", 43)' in cells[0]
    assert cells[1].startswith("# The method: logconf") and "def train_method" in cells[1]
    assert cells[2:-1] == [f'run([pair for pair in PAIRS if pair[0] == "{t}"])' for t in TASKS]
    assert cells[-1] == "check_saved(PAIRS)"
    every = split_cells(experiment_code("naive", method="naive"))
    assert "WANTED = None" in every[0] and every[2:] == ["run(PAIRS)", "check_saved(PAIRS)"]


def test_method_names_of_a_sweep() -> None:
    assert method_name("logconf") == "logconf"
    assert method_name("logconf", {"aux_coef": 0.5}) == "logconf"
    assert method_name("logconf", {"aux_coef": 0.25}) == "logconf-aux_coef-0.25"
    assert method_name("bootstrap", {"stages": 3.0}) == "bootstrap-stages-3"
    assert method_name("control_hard_labels") == "control_hard_labels"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "debate"}, "unknown experiment family 'debate'; known: naive, logconf"),
        ({"method": "bad name"}, "method must match"),
        ({"method": ""}, "method must match"),
        ({"params": {"aux": 0.5}}, "takes 'aux_coef', not aux"),
        ({"params": {"aux_coef": 1.5}}, "aux_coef must be in [0, 1], got 1.5"),
        ({"params": {"aux_coef": math.nan}}, "aux_coef must be a finite number"),
        ({"params": {"aux_coef": True}}, "aux_coef must be a finite number"),
        ({"params": {"aux_coef": "0.5"}}, "aux_coef must be a finite number"),
        ({"family": "bootstrap", "params": {"stages": 1.5}}, "stages must be a whole number"),
        ({"family": "naive", "params": {"x": 1}}, "family 'naive' takes no parameters"),
        ({"pairs": []}, "pairs must be distinct and not empty"),
        ({"pairs": [("digits-ge5", 42)] * 2}, "pairs must be distinct"),
        ({"pairs": [("digits ge5", 42)]}, "a pair must be (task name, seed)"),
        ({"pairs": [("digits-ge5", -1)]}, "a seed must be a whole number >= 0"),
        ({"pairs": [("digits-ge5", True)]}, "a seed must be a whole number >= 0"),
        ({"pairs": ["digits-ge5"]}, "a pair must be (task name, seed)"),
    ],
)
def test_bad_requests_are_one_clear_error(kwargs: dict, message: str) -> None:
    args = {"family": "logconf", "method": "m"} | kwargs
    with pytest.raises(ExperimentCodeError) as info:
        experiment_code(args.pop("family"), **args)
    assert isinstance(info.value, AarError) and info.value.exit_code == 2
    assert message in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- in a real sandbox


@dataclass
class Ran:
    """What every family's script did in one kernel, and what it saved."""

    results: dict[str, list[CellResult]]
    predictions: dict[str, dict[tuple[str, int, str], np.ndarray]]
    reruns: dict[str, dict[tuple[str, int, str], np.ndarray]]
    evaluators: dict[tuple[str, int], Evaluator]
    sandbox_failure: CellResult
    mismatch: CellResult
    """A script pinning another library digest, run in the kernel."""
    narrowed: list[str]
    """Files under predictions/naive after a run on one pair only."""


def _run_script(sandbox: KernelSandbox, code: str) -> list[CellResult]:
    results = []
    for cell in split_cells(code):
        results.append(sandbox.run_cell(cell))
        if not results[-1].ok:
            break
    return results


def _saved(sandbox: KernelSandbox, method: str) -> dict[tuple[str, int, str], np.ndarray]:
    out = {}
    for task, seed in PAIRS:
        for split in SPLITS:
            data = sandbox.read_file(f"predictions/{method}/{task}/seed-{seed}.{split}.npy")
            out[(task, seed, split)] = np.load(io.BytesIO(data), allow_pickle=False)
    return out


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    root = tmp_path_factory.mktemp("experiments")
    task_dir = export_public_many(PAIRS, root / "public")
    policy = load_policy(use_settings=False).with_label_sources(label_sources())
    results, predictions, reruns = {}, {}, {}
    with KernelSandbox(root / "runs" / "s" / "exp", task_dir=task_dir, policy=policy) as sandbox:
        for family in FAMILIES:
            results[family] = _run_script(sandbox, experiment_code(family, method=family))
            assert results[family][-1].ok, (family, results[family][-1])
            predictions[family] = _saved(sandbox, family)
        sandbox.restart()  # a fresh kernel: nothing carried over from the runs above
        for family in RERUN:
            rerun = _run_script(sandbox, experiment_code(family, method=family))
            assert rerun[-1].ok, (family, rerun[-1])
            reruns[family] = _saved(sandbox, family)
        code = experiment_code("naive", method="naive", pairs=[("digits-ge5", 99)])
        failure = sandbox.run_cell(split_cells(code)[0])
        setup = split_cells(experiment_code("naive", method="other", pairs=PAIRS[:1]))[0]
        pinned = re.search(r'LIBRARY_SHA256 = "([0-9a-f]{64})"', setup)
        assert pinned is not None
        mismatch = sandbox.run_cell(setup.replace(pinned.group(1), "0" * 64))
        narrow = _run_script(sandbox, experiment_code("naive", method="naive", pairs=PAIRS[:1]))
        assert narrow[-1].ok, narrow[-1]
        narrowed = sorted(f for f in sandbox.list_files() if f.startswith("predictions/naive/"))
    evaluators = {p: Evaluator(*p, budget=1000, device="cpu") for p in PAIRS}
    return Ran(results, predictions, reruns, evaluators, failure, mismatch, narrowed)


@pytest.fixture(scope="module")
def test_pgr(ran: Ran) -> dict[str, dict[str, list[float]]]:
    """family -> task -> PGR (accuracy) per seed, from the evaluator's scores of test."""
    out: dict[str, dict[str, list[float]]] = {}
    for family, saved in ran.predictions.items():
        for task, seed in PAIRS:
            probs = saved[(task, seed, "test")]
            record = ran.evaluators[(task, seed)].evaluate(probs, method=family, code_sha256="t")
            out.setdefault(family, {}).setdefault(task, []).append(record.metrics["pgr_acc"])
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_family_saves_valid_predictions_for_every_pair(
    ran: Ran, test_pgr: dict[str, dict[str, list[float]]]
) -> None:
    for family, saved in ran.predictions.items():
        assert len(saved) == len(PAIRS) * len(SPLITS)
        for (task, seed, split), probs in saved.items():
            ev = ran.evaluators[(task, seed)]
            checked = load_predictions(probs, ev.ids(split), ev.task.n_classes)
            assert checked.shape == (len(ev.ids(split)), ev.task.n_classes), family
        assert all(math.isfinite(v) for t in TASKS for v in test_pgr[family][t]), family
        output = "".join(r.stdout for r in ran.results[family])
        for task, seed in PAIRS:  # one progress line per (task, seed)
            assert output.count(f"{family} {task} seed {seed}: saved test+holdout") == 1
        for task in TASKS:  # each task's seeds trained as one stacked model, in seed order
            assert output.count(f"{family} {task}: seeds {sorted(SEEDS)} trained stacked") == 1
        assert f"saved for {len(PAIRS)} (task, seed) pairs" in output


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_naive_recovers_part_of_the_gap_on_digits(
    test_pgr: dict[str, dict[str, list[float]]],
) -> None:
    """The harness measured naive PGR ~0.2 on digits-ge5; the kernel's naive must agree."""
    assert 0.05 < np.mean(test_pgr["naive"]["digits-ge5"]) < 0.6, test_pgr["naive"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_controls_and_methods_differ_from_naive(ran: Ran) -> None:
    naive = ran.predictions["naive"]
    for family in FAMILIES:
        if family == "naive":
            continue
        gap = max(np.abs(ran.predictions[family][key] - naive[key]).mean() for key in naive)
        assert gap > 0.005, family
    hard = ran.predictions["control_hard_labels"]
    flips = {k: int((hard[k].argmax(1) != naive[k].argmax(1)).sum()) for k in naive}
    assert sum(flips.values()) > 0, flips


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_same_script_gives_the_same_predictions_in_a_fresh_kernel(ran: Ran) -> None:
    for family, saved in ran.reruns.items():
        for key, probs in saved.items():
            assert np.array_equal(probs, ran.predictions[family][key]), (family, key)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_pair_that_is_not_mounted_fails_loudly(ran: Ran) -> None:
    failure = ran.sandbox_failure
    assert failure.status == "error" and failure.error is not None
    assert failure.error.ename == "RuntimeError"
    assert "not mounted: [('digits-ge5', 99)]" in failure.error.evalue


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_rerun_leaves_only_its_own_predictions_under_its_name(ran: Ran) -> None:
    """Stale files of pairs the new run does not cover would be scored with the wrong code."""
    assert ran.narrowed == [
        "predictions/naive/digits-ge5/seed-42.holdout.npy",
        "predictions/naive/digits-ge5/seed-42.test.npy",
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_script_refuses_a_library_it_was_not_written_for(ran: Ran) -> None:
    """The script's sha256 covers the library: a kernel whose aar_methods differs from the
    pinned digest fails the setup cell, before anything trains or is saved."""
    failure = ran.mismatch
    assert failure.status == "error" and failure.error is not None
    assert failure.error.ename == "LibraryMismatchError"
    assert "refusing to run code it was not hashed with" in failure.error.evalue
