"""Weak-to-strong benchmark: tasks, the split protocol, students, evaluator and stats.

Tasks (`Task`, `register_task`, `get_task`, `list_tasks`) come from `_task.py` and
`_registry.py`; everything that consumes a task (splits, weak supervision, students, the
evaluator that holds the ground truth, statistics, the runner) lives in the other modules.

Names are imported on first use (PEP 562): `from aar.bench import get_task` loads the registry,
not torch or scikit-learn, so the CLI checks its arguments before paying for them. To export a
name, add it to `_EXPORTS`, `__all__` and the `TYPE_CHECKING` imports that type checkers and
IDEs read (a test keeps the three equal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aar.bench._errors import (
        BudgetExceededError,
        HoldoutRefusedError,
        InvalidDeviceError,
        InvalidPredictionsError,
        InvalidSeedsError,
        LabelsElsewhereError,
        OutputDirError,
        UnknownMethodError,
    )
    from aar.bench._evallog import EvalLog, EvalRecord
    from aar.bench._evaluator import FORMAT_VERSION, Evaluator, export_public, export_public_many
    from aar.bench._gaps import GapTable, TaskGap, gap_table
    from aar.bench._key import TaskKeyError, key_id, keyed_rng
    from aar.bench._method_spec import (
        BASELINES,
        DEFAULT_METHODS,
        METHODS,
        Method,
        parse_method,
        parse_methods,
        with_balanced_hardening,
    )
    from aar.bench._methods import train_students
    from aar.bench._predictions import (
        PREDICTION_FORMAT,
        Submission,
        check_label,
        load_predictions,
        predictions_sha256,
        read_submission,
    )
    from aar.bench._protocol import (
        SPLIT_FRACTIONS,
        VAL_FRACTION,
        Splits,
        allocate_rows,
        make_splits,
        setup_seed,
    )
    from aar.bench._public_ids import recall_public_ids, remember_public_ids
    from aar.bench._registry import (
        DuplicateTaskError,
        InvalidTaskError,
        TaskPluginError,
        UnknownTaskError,
        check_task_names,
        get_task,
        label_sources,
        list_tasks,
        register_task,
    )
    from aar.bench._report import (
        check_json_target,
        prepare_out_dir,
        summary_json,
        task_gap_row,
        write_results,
    )
    from aar.bench._runner import (
        MethodResult,
        SeedRecord,
        SuiteResult,
        TaskResult,
        check_device,
        check_seed,
        device_for,
        git_commit,
        load_data,
        resolve_seeds,
        resolve_task,
        run_suite,
        run_task,
    )
    from aar.bench._stats import (
        Comparison,
        Decision,
        PairedSummary,
        Summary,
        TTest,
        VerdictRule,
        accuracy,
        auroc,
        decide_round,
        holm,
        paired_difference,
        paired_t,
        pgr,
        summarize,
        t_interval,
    )
    from aar.bench._task import LabelSource, StudentConfig, Task, TaskData, WeakModel
    from aar.bench._train import library_sha256, method_space, recipes_sha256
    from aar.bench.tasks import make_synthetic_task

_EXPORTS: dict[str, tuple[str, ...]] = {
    "aar.bench._errors": (
        "BudgetExceededError",
        "HoldoutRefusedError",
        "InvalidDeviceError",
        "InvalidPredictionsError",
        "InvalidSeedsError",
        "LabelsElsewhereError",
        "OutputDirError",
        "UnknownMethodError",
    ),
    "aar.bench._evallog": ("EvalLog", "EvalRecord"),
    "aar.bench._evaluator": ("FORMAT_VERSION", "Evaluator", "export_public", "export_public_many"),
    "aar.bench._gaps": ("GapTable", "TaskGap", "gap_table"),
    "aar.bench._key": (
        "TaskKeyError",
        "key_id",
        "keyed_rng",
    ),
    "aar.bench._methods": ("train_students",),
    "aar.bench._method_spec": (
        "BASELINES",
        "DEFAULT_METHODS",
        "METHODS",
        "Method",
        "parse_method",
        "parse_methods",
        "with_balanced_hardening",
    ),
    "aar.bench._predictions": (
        "PREDICTION_FORMAT",
        "Submission",
        "check_label",
        "load_predictions",
        "predictions_sha256",
        "read_submission",
    ),
    "aar.bench._public_ids": ("recall_public_ids", "remember_public_ids"),
    "aar.bench._report": (
        "check_json_target",
        "prepare_out_dir",
        "summary_json",
        "task_gap_row",
        "write_results",
    ),
    "aar.bench._protocol": (
        "SPLIT_FRACTIONS",
        "VAL_FRACTION",
        "Splits",
        "allocate_rows",
        "make_splits",
        "setup_seed",
    ),
    "aar.bench._registry": (
        "DuplicateTaskError",
        "InvalidTaskError",
        "TaskPluginError",
        "UnknownTaskError",
        "check_task_names",
        "get_task",
        "label_sources",
        "list_tasks",
        "register_task",
    ),
    "aar.bench._runner": (
        "MethodResult",
        "SeedRecord",
        "SuiteResult",
        "TaskResult",
        "check_device",
        "check_seed",
        "device_for",
        "git_commit",
        "load_data",
        "resolve_seeds",
        "resolve_task",
        "run_suite",
        "run_task",
    ),
    "aar.bench._stats": (
        "Comparison",
        "Decision",
        "PairedSummary",
        "Summary",
        "TTest",
        "VerdictRule",
        "accuracy",
        "auroc",
        "decide_round",
        "holm",
        "paired_difference",
        "paired_t",
        "pgr",
        "summarize",
        "t_interval",
    ),
    "aar.bench._task": (
        "LabelSource",
        "StudentConfig",
        "Task",
        "TaskData",
        "WeakModel",
    ),
    "aar.bench._train": ("library_sha256", "method_space", "recipes_sha256"),
    "aar.bench.tasks": ("make_synthetic_task",),
}
"""Public name -> the private module defining it, imported on first use."""
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "BASELINES",
    "DEFAULT_METHODS",
    "FORMAT_VERSION",
    "METHODS",
    "PREDICTION_FORMAT",
    "SPLIT_FRACTIONS",
    "VAL_FRACTION",
    "BudgetExceededError",
    "Comparison",
    "Decision",
    "DuplicateTaskError",
    "EvalLog",
    "EvalRecord",
    "Evaluator",
    "GapTable",
    "HoldoutRefusedError",
    "InvalidDeviceError",
    "InvalidPredictionsError",
    "InvalidSeedsError",
    "InvalidTaskError",
    "LabelSource",
    "LabelsElsewhereError",
    "Method",
    "MethodResult",
    "OutputDirError",
    "PairedSummary",
    "SeedRecord",
    "Splits",
    "StudentConfig",
    "Submission",
    "SuiteResult",
    "Summary",
    "TTest",
    "Task",
    "TaskData",
    "TaskGap",
    "TaskKeyError",
    "TaskPluginError",
    "TaskResult",
    "UnknownMethodError",
    "UnknownTaskError",
    "VerdictRule",
    "WeakModel",
    "accuracy",
    "allocate_rows",
    "auroc",
    "check_device",
    "check_json_target",
    "check_label",
    "check_seed",
    "check_task_names",
    "decide_round",
    "device_for",
    "export_public",
    "export_public_many",
    "gap_table",
    "get_task",
    "git_commit",
    "holm",
    "key_id",
    "keyed_rng",
    "label_sources",
    "library_sha256",
    "list_tasks",
    "load_data",
    "load_predictions",
    "make_splits",
    "make_synthetic_task",
    "method_space",
    "paired_difference",
    "paired_t",
    "parse_method",
    "parse_methods",
    "pgr",
    "predictions_sha256",
    "prepare_out_dir",
    "read_submission",
    "recall_public_ids",
    "recipes_sha256",
    "register_task",
    "remember_public_ids",
    "resolve_seeds",
    "resolve_task",
    "run_suite",
    "run_task",
    "setup_seed",
    "summarize",
    "summary_json",
    "t_interval",
    "task_gap_row",
    "train_students",
    "with_balanced_hardening",
    "write_results",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'aar.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
