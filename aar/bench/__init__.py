"""Weak-to-strong benchmark: tasks, the split protocol, students, evaluator and stats.

Tasks (`Task`, `register_task`, `get_task`, `list_tasks`) come from `_task.py` and
`_registry.py`; everything that consumes a task (splits, weak supervision, students, the
evaluator that holds the ground truth, statistics, the runner) lives in the other modules.
"""

from aar.bench._errors import (
    BudgetExceededError,
    HoldoutRefusedError,
    InvalidPredictionsError,
    InvalidSeedsError,
    OutputDirError,
    UnknownMethodError,
)
from aar.bench._evaluator import (
    FORMAT_VERSION,
    EvalRecord,
    Evaluator,
    export_public,
    load_predictions,
)
from aar.bench._key import TaskKeyError, key_id
from aar.bench._methods import BASELINES, DEFAULT_METHODS, METHODS, Method, parse_method
from aar.bench._protocol import SPLIT_FRACTIONS, VAL_FRACTION, Splits, make_splits, setup_seed
from aar.bench._registry import (
    DuplicateTaskError,
    InvalidTaskError,
    TaskPluginError,
    UnknownTaskError,
    get_task,
    label_sources,
    list_tasks,
    register_task,
)
from aar.bench._runner import (
    MethodResult,
    SeedRecord,
    SuiteResult,
    TaskResult,
    resolve_seeds,
    resolve_task,
    run_suite,
    run_task,
)
from aar.bench._stats import Summary, accuracy, auroc, pgr, summarize
from aar.bench._task import LabelSource, StudentConfig, Task, TaskData, WeakModel
from aar.bench.tasks import make_synthetic_task

__all__ = [
    "BASELINES",
    "DEFAULT_METHODS",
    "FORMAT_VERSION",
    "METHODS",
    "SPLIT_FRACTIONS",
    "VAL_FRACTION",
    "BudgetExceededError",
    "DuplicateTaskError",
    "EvalRecord",
    "Evaluator",
    "HoldoutRefusedError",
    "InvalidPredictionsError",
    "InvalidSeedsError",
    "InvalidTaskError",
    "LabelSource",
    "Method",
    "MethodResult",
    "OutputDirError",
    "SeedRecord",
    "Splits",
    "StudentConfig",
    "SuiteResult",
    "Summary",
    "Task",
    "TaskData",
    "TaskKeyError",
    "TaskPluginError",
    "TaskResult",
    "UnknownMethodError",
    "UnknownTaskError",
    "WeakModel",
    "accuracy",
    "auroc",
    "export_public",
    "get_task",
    "key_id",
    "label_sources",
    "list_tasks",
    "load_predictions",
    "make_splits",
    "make_synthetic_task",
    "parse_method",
    "pgr",
    "register_task",
    "resolve_seeds",
    "resolve_task",
    "run_suite",
    "run_task",
    "setup_seed",
    "summarize",
]
