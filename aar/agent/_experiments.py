"""The experiment-code library: real, self-contained experiment scripts per method family.

The scripted researcher (and anyone reviewing a proposal) needs code that runs in the
sandboxed kernel as it is: no import of aar (it does not exist in there), every mounted
(task, seed) read through `aar_kernel`, the strong student trained with the manifest's
configuration, deterministic from the protocol seed, and test and holdout probabilities saved
under the method's name. Ground truth does not exist in the kernel; validation uses weak
labels only.

The training code itself is `aar_methods` (`sandbox/kernel/aar_methods/`), real files the
kernel imports from its read-only mount and `aar bench run` loads too: one implementation, so
a session's baselines and the bench give identical numbers. Both train a task's seeds as one
stacked model, sorted by seed (`train_public_seeds`, several times faster than one model at
a time; a stack rounds as a stack, so the same seeds in the same order on both sides are
what makes the numbers equal). A script pins the library's
sha256 (`LIBRARY_SHA256`, checked by `aar_methods.require` before anything trains), so the
sha256 of a script, which evaluation records and proposals carry, covers the library it runs.

`FAMILIES` holds each family's method (quoted by reports), a hypothesis template and its key
hyper-parameter (default and sweep grid for follow-ups); `experiment_code` writes the script.

Long because most of it is data read as one piece: the kernel-side helpers every script
carries (`_HELPERS`, code that runs in the sandbox, not here) and the ten families' catalogue.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from aar.agent._config_families import (
    CONFIG_FAMILY_TEXT,
    check_fields,
    config_delta,
    family_config,
    with_params,
)
from aar.bench import library_sha256, recipes_sha256
from aar.errors import AarError
from aar.hashing import join_cells
from aar.session import changes_text

BASELINE_FAMILY = "naive"
"""The family every comparison is paired against (same tasks, same seeds)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""What `aar_kernel.save_predictions` accepts as a method or task name."""


class ExperimentCodeError(AarError):
    """An experiment cannot be written as asked: unknown family, bad parameter, name or pair."""


class FamilyParam(BaseModel):
    """A family's key hyper-parameter: what follow-ups sweep."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    default: float
    grid: tuple[float, ...]
    """Values a follow-up sweep tries (the default among them)."""
    minimum: float
    maximum: float
    integer: bool = False

    def check(self, value: object) -> float | int:
        """The value as the script will hold it, or an `ExperimentCodeError` saying why not."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ExperimentCodeError(f"{self.name} must be a finite number, got {value!r}")
        if self.integer and value != int(value):
            raise ExperimentCodeError(f"{self.name} must be a whole number, got {value!r}")
        if not self.minimum <= value <= self.maximum:
            raise ExperimentCodeError(
                f"{self.name} must be in [{self.minimum:g}, {self.maximum:g}], got {value!r}"
            )
        return int(value) if self.integer else float(value)


class Family(BaseModel):
    """One hypothesis family: what it does, what it claims, and the kernel code that does it."""

    model_config = ConfigDict(frozen=True)

    name: str
    method: str
    """One or two sentences on what the family does (reports quote it)."""
    hypothesis_template: str
    """One line; `{tasks}` and `{value}` (the key parameter) are filled in by `hypothesis`."""
    param: FamilyParam | None
    control: bool = False
    """A control: it tells whether an effect is more than label noise or hardening."""
    memory_tags: tuple[str, ...] = ()
    """Keys of the findings memory's glossary (`aar/memory/glossary.toml`) it belongs to."""
    config: dict[str, Any] | None = None
    """A family of the method space: the `MethodConfig` its script trains (`aar_recipes`);
    None for the ten original families (`aar_methods`' recipes)."""
    stacked: bool = True
    """Whether a task's seeds train as one stacked model. naive trains each seed alone: it is
    the scorer's reference, which the `Evaluator` (knowing one seed) trains alone too, and a
    session's naive predictions must be byte for byte that reference."""

    def hypothesis(self, tasks: Sequence[str], value: float | None = None) -> str:
        """The hypothesis for `tasks` at `value` of the key parameter (default if None)."""
        if value is None and self.param is not None:
            value = self.param.default
        shown = "" if value is None else f"{value:g}"
        return self.hypothesis_template.format(tasks=", ".join(tasks), value=shown)


_HELPERS = '''\
import shutil
import time

import aar_kernel
import aar_methods
import numpy as np

SPLITS = ("test", "holdout")
REQUIRED = (
    "transfer_inputs",
    "transfer_weak_labels",
    "transfer_is_val",
    "test_inputs",
    "holdout_inputs",
    "test_weak_labels",
)


def mounted_pairs(wanted):
    """The (task, seed) pairs to run: `wanted`, each checked to be mounted, or every export."""
    mounted = [(str(task), int(seed)) for task, seed in aar_kernel.exports()]
    if not mounted:
        raise RuntimeError("no (task, seed) is mounted under /task")
    if wanted is None:
        return mounted
    missing = [pair for pair in wanted if pair not in mounted]
    if missing:
        raise RuntimeError(f"not mounted: {missing}; mounted: {mounted}")
    return list(wanted)


def clear_saved():
    """Remove METHOD's earlier predictions: what is saved under it comes from this script."""
    root = aar_kernel.SCRATCH_DIR / aar_kernel.PREDICTIONS_DIR / METHOD
    if root.exists():
        shutil.rmtree(root)
        print(f"{METHOD}: removed predictions an earlier run saved under this name")


def load_checked(task, seed):
    """The public files of one (task, seed), checked: anything unexpected raises."""
    single = (aar_kernel.TASK_DIR / "manifest.json").is_file()  # one export mounted at /task
    t = aar_kernel.load_task() if single else aar_kernel.load_task(task, seed)
    where = f"{task} seed {seed}"
    missing = [name for name in REQUIRED if name not in t]
    if missing:
        raise FileNotFoundError(f"{where}: missing {missing}")
    m = t["manifest"]
    if m.get("task") != task or m.get("seed") != seed or "student" not in m:
        raise ValueError(f"{where}: unexpected manifest {m.get('task')!r} {m.get('seed')!r}")
    k = int(m["n_classes"])
    x, w, val = t["transfer_inputs"], t["transfer_weak_labels"], t["transfer_is_val"]
    if k < 2 or x.ndim != 2 or len(x) < 4 or w.shape != (len(x), k):
        raise ValueError(f"{where}: transfer {x.shape} and weak labels {w.shape}, {k} classes")
    if val.shape != (len(x),) or val.dtype != bool or val.all() or not val.any():
        raise ValueError(f"{where}: transfer_is_val must be a mixed bool mask of {len(x)} rows")
    for split in SPLITS:
        z = t[f"{split}_inputs"]
        if z.ndim != 2 or z.shape[1] != x.shape[1] or len(z) == 0:
            raise ValueError(f"{where}: {split}_inputs has shape {z.shape}, transfer {x.shape}")
    check_probs(w, len(x), k, f"{where} transfer_weak_labels")
    check_probs(t["test_weak_labels"], len(t["test_inputs"]), k, f"{where} test_weak_labels")
    for name in ("transfer_inputs", "test_inputs", "holdout_inputs"):
        if not np.isfinite(t[name]).all():
            raise ValueError(f"{where}: {name} holds NaN or infinite values")
    return t


def check_probs(p, n, k, what):
    """Probabilities [n, k], finite, in [0, 1], rows summing to 1; else raise."""
    p = np.asarray(p)
    if p.shape != (n, k) or not np.isfinite(p).all():
        raise ValueError(f"{what}: expected finite probabilities of shape {(n, k)}, got {p.shape}")
    if (p < 0).any() or (p > 1).any() or np.abs(p.sum(1) - 1).max() > 1e-4:
        raise ValueError(f"{what}: rows must be probabilities summing to 1")


def run(pairs):
    """Train each task's seeds as one stacked model, sorted by seed (the order `aar bench run`
    stacks them, so their numbers are identical), and save test and holdout probabilities
    for each (task, seed); a line each, and the task's training time."""
    for task in dict.fromkeys(task for task, _ in pairs):
        seeds = sorted(seed for name, seed in pairs if name == task)
        start = time.perf_counter()
        files = {seed: load_checked(task, seed) for seed in seeds}
        outcomes = list(train_method(files, seeds))
        if len(outcomes) != len(seeds):
            raise RuntimeError(f"{task}: {len(outcomes)} outcomes for seeds {seeds}")
        for seed, outcome in zip(seeds, outcomes, strict=True):
            save(task, seed, files[seed], outcome)
        took = time.perf_counter() - start
        print(f"{METHOD} {task}: seeds {seeds} trained stacked in {took:.1f} s", flush=True)


def save(task, seed, t, outcome):
    """Check and save one (task, seed)'s test and holdout probabilities; print a line."""
    k = int(t["manifest"]["n_classes"])
    for split in SPLITS:
        p = outcome.probs[split]
        check_probs(p, len(t[f"{split}_inputs"]), k, f"{task} seed {seed} {split}")
        aar_kernel.save_predictions(p, split=split, name=METHOD, task=task, seed=seed)
    agree = np.mean(outcome.probs["test"].argmax(1) == t["test_weak_labels"].argmax(1))
    note = f", {outcome.note}" if outcome.note else ""
    print(
        f"{METHOD} {task} seed {seed}: saved test+holdout; test agreement with weak "
        f"labels {agree:.3f}{note}",
        flush=True,
    )


def check_saved(pairs):
    """Fail unless every (task, seed) has both splits saved under METHOD."""
    root = aar_kernel.SCRATCH_DIR / aar_kernel.PREDICTIONS_DIR / METHOD
    missing = [
        f"{task} seed {seed} {split}"
        for task, seed in pairs
        for split in SPLITS
        if not (root / task / f"seed-{seed}.{split}.npy").is_file()
    ]
    if missing:
        raise RuntimeError(f"{METHOD}: predictions missing for {missing}")
    print(f"{METHOD}: test and holdout predictions saved for {len(pairs)} (task, seed) pairs")

'''


_CONFIG_CELL = '''\
{changes}
# Its code is the aar_recipes library (sandbox/kernel/aar_recipes/), which
# `aar bench run --method CONFIG.json` trains too; RECIPES_SHA256 above pins its files.
def train_method(files, seeds):
    """{family}: test and holdout probabilities for each seed of one task,
    the seeds trained as one stacked model (`files[seed]`: that seed's exported files)."""
    return aar_recipes.train_public_seeds(CONFIG, files, seeds)'''


_METHOD_CELL = '''\
# The method: {family}
# Its code is the aar_methods library (sandbox/kernel/aar_methods/_families.py), which
# `aar bench run` trains too; LIBRARY_SHA256 above pins its files.
def train_method(files, seeds):
    """{family} at PARAMS: test and holdout probabilities for each seed of one task, the
    seeds trained as one stacked model (`files[seed]`: that seed's exported files)."""
    return aar_methods.train_public_seeds(FAMILY, files, seeds, PARAMS, batch=STACKED)'''


def _param(
    name: str,
    description: str,
    default: float,
    grid: tuple[float, ...],
    *,
    minimum: float,
    maximum: float,
    integer: bool = False,
) -> FamilyParam:
    return FamilyParam(
        name=name,
        description=description,
        default=default,
        grid=grid,
        minimum=minimum,
        maximum=maximum,
        integer=integer,
    )


_FAMILY_LIST = (
    Family(
        name="naive",
        method="Cross-entropy on the weak supervisor's soft labels over all of transfer, the "
        "manifest's student configuration; the baseline every method is paired against.",
        hypothesis_template="Naive training on weak soft labels recovers part of the "
        "performance gap (PGR > 0) on {tasks}.",
        param=None,
        memory_tags=("naive",),
        stacked=False,
    ),
    Family(
        name="logconf",
        method="Auxiliary confidence loss (openai/weak-to-strong): the target is "
        "(1 - c) * weak + c * the student's own hardened predictions, hardened at the batch "
        "share matching the weak positive rate (argmax for multiclass, as the published "
        "reference; the method space's balanced hardening is loss.hardening); c ramps up over "
        "the first 10 % of steps.",
        hypothesis_template="An auxiliary confidence loss (coefficient {value}) recovers "
        "more of the gap than naive training on {tasks}.",
        param=_param(
            "aux_coef",
            "weight of the student's own hardened predictions",
            0.5,
            (0.25, 0.5, 0.75, 1.0),
            minimum=0.0,
            maximum=1.0,
        ),
        memory_tags=("logconf", "warmup"),
    ),
    Family(
        name="bootstrap",
        method="Stepping stones: a linear model, then MLPs of width 16, 32, ... (stages in "
        "all), each trained on the previous one's soft labels on transfer (the first on the "
        "weak labels); the full student learns from the last.",
        hypothesis_template="Bootstrapping through {value} smaller student(s) recovers more "
        "of the gap than naive training on {tasks}.",
        param=_param(
            "stages",
            "number of intermediate students",
            2,
            (1, 2, 3),
            minimum=1,
            maximum=4,
            integer=True,
        ),
        memory_tags=("bootstrap", "student_capacity"),
    ),
    Family(
        name="early_stopping",
        method="Train on transfer minus its validation part and keep the epoch whose "
        "predictions agree best with the weak labels on validation; stop after `patience` "
        "epochs without improvement.",
        hypothesis_template="Early stopping on weak-labelled validation (patience {value}) "
        "recovers more of the gap than naive training on {tasks}.",
        param=_param(
            "patience",
            "epochs without a better validation agreement before stopping",
            2,
            (1, 2, 3, 5),
            minimum=1,
            maximum=100,
            integer=True,
        ),
        memory_tags=("early_stopping", "training_length"),
    ),
    Family(
        name="confidence_filter",
        method="Train only on the most confident weak labels: the `keep_fraction` of rows "
        "with the highest max probability within each weak class, soft labels kept.",
        hypothesis_template="Training only on the most confident weak labels (a {value} "
        "share) recovers more of the gap than naive training on {tasks}.",
        param=_param(
            "keep_fraction",
            "share of transfer rows kept, per weak class",
            0.5,
            (0.3, 0.5, 0.7, 0.9),
            minimum=0.01,
            maximum=1.0,
        ),
        memory_tags=("confidence_filtering",),
    ),
    Family(
        name="cotrain",
        method="Cross-labelling: two students trained on disjoint halves of transfer label "
        "each other's half (a debate-style cross-check); the final student learns "
        "(1 - w) * weak + w * those cross-labels on all of transfer.",
        hypothesis_template="Mixing in cross-labels from students trained on the other half "
        "(weight {value}) recovers more of the gap than naive training on {tasks}.",
        param=_param(
            "agreement_weight",
            "weight of the other half's student in the targets",
            0.5,
            (0.25, 0.5, 0.75, 1.0),
            minimum=0.0,
            maximum=1.0,
        ),
        memory_tags=("multi_view", "self_training"),
    ),
    Family(
        name="label_smoothing",
        method="Label smoothing: targets are (1 - epsilon) * weak soft labels + epsilon / "
        "n_classes.",
        hypothesis_template="Smoothing the weak labels (epsilon {value}) recovers more of "
        "the gap than naive training on {tasks}.",
        param=_param(
            "epsilon",
            "mass moved to the uniform distribution",
            0.1,
            (0.05, 0.1, 0.2, 0.3),
            minimum=0.0,
            maximum=0.99,
        ),
        memory_tags=("label_smoothing", "soft_labels"),
    ),
    Family(
        name="temperature",
        method="Temperature on the weak soft labels: p ** (1 / T), renormalised; T < 1 "
        "sharpens them, T > 1 softens them.",
        hypothesis_template="Rescaling the weak soft labels with temperature {value} "
        "recovers more of the gap than naive training on {tasks}.",
        param=_param(
            "temperature",
            "T (below 1 sharpens, above 1 softens)",
            0.5,
            (0.25, 0.5, 2.0, 4.0),
            minimum=0.01,
            maximum=100.0,
        ),
        memory_tags=("calibration", "soft_labels"),
    ),
    Family(
        name="control_random_flip",
        method="Control: hardened weak labels, each flipped to another class at random with "
        "probability `flip_scale` * the weak labels' estimated error rate, mean(1 - max "
        "prob) (no ground truth); tells structured weak errors from random noise.",
        hypothesis_template="Hardened weak labels with random flips at {value}x their "
        "estimated error rate train a better student than naive on {tasks}.",
        param=_param(
            "flip_scale",
            "flip rate as a multiple of the estimated weak error rate",
            1.0,
            (0.5, 1.0, 2.0),
            minimum=0.0,
            maximum=4.0,
        ),
        control=True,
        memory_tags=("weak_errors", "soft_labels"),
    ),
    Family(
        name="control_hard_labels",
        method="Control: cross-entropy on the weak labels hardened to their most probable "
        "class; tells what the soft labels' confidence adds.",
        hypothesis_template="Hardened weak labels train a better student than the soft "
        "labels (naive) on {tasks}.",
        param=None,
        control=True,
        memory_tags=("soft_labels",),
    ),
)

_CONFIG_FAMILIES = tuple(
    Family(
        name=name,
        method=method,
        hypothesis_template=template,
        param=None
        if spec is None
        else _param(
            spec[0],
            spec[1],
            spec[2],
            spec[3],
            minimum=spec[4],
            maximum=spec[5],
            integer=spec[6],
        ),
        control=name.startswith("control_"),
        memory_tags=tags,
        config=family_config(name),
    )
    for name, (method, template, tags, spec) in CONFIG_FAMILY_TEXT.items()
)

FAMILIES: dict[str, Family] = {f.name: f for f in (*_FAMILY_LIST, *_CONFIG_FAMILIES)}
"""Every family by name; the methods, hypotheses and parameters reports and sweeps use."""


def get_family(name: str) -> Family:
    """The family called `name`, or an `ExperimentCodeError` listing the valid names."""
    family = FAMILIES.get(name)
    if family is None:
        raise ExperimentCodeError(
            f"unknown experiment family {name!r}; known: {', '.join(FAMILIES)}"
        )
    return family


def method_name(family: str, params: Mapping[str, float] | None = None) -> str:
    """A prediction name for a family at `params`: the family's name at its default, else
    e.g. `logconf-aux_coef-0.25` (sweeps save each value under its own name)."""
    spec = get_family(family)
    values = _check_params(spec, params)
    parts = [spec.name]
    for name, value in values.items():
        if spec.param is None or name != spec.param.name or value != spec.param.default:
            parts += [name, f"{value:g}"]
    return "-".join(parts)


def experiment_code(
    family: str,
    *,
    method: str,
    params: Mapping[str, float] | None = None,
    pairs: Sequence[tuple[str, int]] | None = None,
) -> str:
    """The experiment script (cells split on `# %%` lines) for `family`, saving under `method`.

    `params` sets the key hyper-parameter (default if absent); `pairs` lists the (task, seed)
    pairs it runs, one cell per task (None: every mounted export, in one cell). The script
    checks every input, prints a line per (task, seed), and raises on anything unexpected.
    """
    spec = get_family(family)
    if not isinstance(method, str) or not _NAME.match(method):
        raise ExperimentCodeError(f"method must match {_NAME.pattern}, got {method!r}")
    values = _check_params(spec, params)
    wanted = None if pairs is None else _check_pairs(pairs)
    method_cell = _METHOD_CELL.format(family=spec.name)
    if spec.config is not None:
        spec = spec.model_copy(update={"config": with_params(spec.config, values)})
        assert spec.config is not None
        changes = changes_text(spec.config)
        said = f"The method: {spec.name}, a configuration of the method space (its fields "
        said += f"other than naive's: {changes})."
        method_cell = _CONFIG_CELL.format(family=spec.name, changes="\n".join(_wrap_comment(said)))
    cells = [
        _setup_cell(spec, method, values, wanted),
        method_cell,
        *_run_cells(wanted),
        "check_saved(PAIRS)",
    ]
    return join_cells(cells)


def _check_params(spec: Family, params: Mapping[str, float] | None) -> dict[str, float | int]:
    """The key parameter's value (default if absent) and, for a method-space family, any
    other numeric `component.field` it is composed with (a follow-up's next region), in
    the order the method name lists them: the key parameter first, the rest sorted."""
    params = dict(params or {})
    extra: dict[str, float] = {}
    if spec.config is not None:
        key = spec.param.name if spec.param else None
        extra = {k: params.pop(k) for k in sorted(params) if k != key}
    values = _check_key_param(spec, params)
    if extra:
        try:
            values |= check_fields(spec.config or {}, extra)
        except ValueError as exc:
            raise ExperimentCodeError(f"family {spec.name!r}: {exc}") from None
    return values


def _check_key_param(spec: Family, params: dict[str, float]) -> dict[str, float | int]:
    if spec.param is None:
        if params:
            raise ExperimentCodeError(f"family {spec.name!r} takes no parameters, got {params}")
        return {}
    unknown = sorted(set(params) - {spec.param.name})
    if unknown:
        raise ExperimentCodeError(
            f"family {spec.name!r} takes {spec.param.name!r}, not {', '.join(unknown)}"
        )
    return {spec.param.name: spec.param.check(params.get(spec.param.name, spec.param.default))}


def _check_pairs(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    checked = []
    for pair in pairs:
        task, seed = pair if isinstance(pair, tuple | list) and len(pair) == 2 else (None, None)
        if not isinstance(task, str) or not _NAME.match(task):
            raise ExperimentCodeError(f"a pair must be (task name, seed), got {pair!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ExperimentCodeError(f"a seed must be a whole number >= 0, got {pair!r}")
        checked.append((task, seed))
    if not checked or len(set(checked)) != len(checked):
        raise ExperimentCodeError(f"pairs must be distinct and not empty, got {list(pairs)}")
    return checked


def _setup_cell(
    spec: Family, method: str, values: dict[str, float | int], wanted: list | None
) -> str:
    header = [
        f"# Experiment family: {spec.name}" + (" (a control)" if spec.control else ""),
        *_wrap_comment(spec.method),
        f"# Saves test and holdout probabilities as {method!r} for every (task, seed).",
        "# Written by aar's experiment library; runs in the sandbox (no aar, no ground truth).",
    ]
    constants = [
        f"WANTED = {_literal(wanted)}",
        f"METHOD = {_literal(method)}",
        f"FAMILY = {_literal(spec.name)}",
        f"PARAMS = {_literal(values)}",
        f"STACKED = {spec.stacked}",
        f"LIBRARY_SHA256 = {_literal(library_sha256())}",
        "aar_methods.require(LIBRARY_SHA256)  # the library this script was written for",
        *(
            []
            if spec.config is None
            else [
                f"RECIPES_SHA256 = {_literal(recipes_sha256())}",
                "aar_recipes.require(RECIPES_SHA256)  # and the method space's",
                _config_literal(config_delta(spec.config)),
            ]
        ),
        "PAIRS = mounted_pairs(WANTED)",
        "clear_saved()",
        'print(f"{METHOD}: {len(PAIRS)} (task, seed) pairs, parameters {PARAMS}", flush=True)',
    ]
    helpers = _HELPERS
    if spec.config is not None:
        helpers = helpers.replace(
            "import aar_methods\n", "import aar_methods\nimport aar_recipes\n"
        )
    return "\n".join([*header, helpers, *constants])  # _HELPERS ends in a blank line


def _wrap_comment(text: str, width: int = 92) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#"
        line += f" {word}"
    return [*lines, line]


def _run_cells(wanted: list[tuple[str, int]] | None) -> list[str]:
    if wanted is None:
        return ["run(PAIRS)"]
    tasks = list(dict.fromkeys(task for task, _ in wanted))
    return [f"run([pair for pair in PAIRS if pair[0] == {_literal(task)}])" for task in tasks]


def _config_literal(delta: dict[str, dict[str, Any]]) -> str:
    """`CONFIG = {...}` as ruff formats it (100 columns): each mapping on one line when it
    fits, else one entry a line with a trailing comma."""
    return "CONFIG = " + _fitted(delta, len("CONFIG = "), 0)


def _fitted(value: object, column: int, indent: int) -> str:
    one = _literal(value)
    if not isinstance(value, dict) or column + len(one) <= 100:
        return one
    inner = " " * (indent + 4)
    lines = [
        f"{inner}{_literal(k)}: {_fitted(v, len(inner) + len(_literal(k)) + 3, indent + 4)},"
        for k, v in value.items()
    ]
    return "\n".join(["{", *lines, " " * indent + "}"])


def _literal(value: object) -> str:
    """A Python literal of checked names and numbers, double-quoted as ruff formats it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)
