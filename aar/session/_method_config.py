"""The `MethodConfig` a method's predictions were trained with, read from its experiment's cells.

A finding keeps its method's full configuration so that a later session (or a person) can
continue the search from exactly that point of the method space. The session only knows it
where the script says it plainly: aar's experiment library writes `METHOD = "..."` next to a
literal `CONFIG = {...}` that `aar_recipes.train_public(CONFIG, ...)` trains (method-space
families), or `FAMILY` and `PARAMS` that `aar_methods.train_public(FAMILY, t, seed, PARAMS)`
trains (the ten legacy families, each a `FAMILY_CONFIGS` entry). Scripts may be concatenated
sweeps, so each section (from a cell that assigns `METHOD` to the next) is read on its own.

The cells are parsed with `ast`, never executed. Anything else (code a language model wrote,
a configuration built at run time or changed after it is assigned, two trainings under one
name, a cell that does not parse) is unknown: None, never a guess and never an exception.

The walk is linear in the script: each cell is parsed once per script (cached by its text, as
a session's report and a proposal page ask about the same cells again and again), and each
section is walked once for everything it says (`_Facts`: its literals, which names are
rebound or changed in place, its training calls). Asking per name walked the whole section
per name, which made a 450-line sweep take ~400 ms.
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aar.session._models import SessionState

LEGACY_PARAMS: dict[str, dict[str, str]] = {
    "naive": {},
    "logconf": {"aux_coef": "loss.aux_coef"},
    "bootstrap": {"stages": "training.bootstrap_stages"},
    "early_stopping": {"patience": "training.patience"},
    "confidence_filter": {"keep_fraction": "selection.keep_fraction"},
    "cotrain": {"agreement_weight": "relabel.weight"},
    "label_smoothing": {"epsilon": "labels.smoothing"},
    "temperature": {"temperature": "labels.temperature"},
    "control_random_flip": {"flip_scale": "control.random_flip"},
    "control_hard_labels": {},
}
"""The legacy (`aar_methods`) families: each parameter's `component.field` in `MethodConfig`
(the family's `FAMILY_CONFIGS` entry trains what the legacy recipe trains)."""

_UNKNOWN = object()
"""A name assigned something that is not a literal."""


def method_config(
    state: SessionState, method: str, records: Iterable[str] | None = None
) -> dict[str, Any] | None:
    """The full `MethodConfig` (`model_dump()`) that `method`'s evaluated predictions were
    trained with, or None when the scripts do not say it plainly. Every experiment whose
    predictions were evaluated under `method` (only those behind `records`, record ids, when
    given) must say the same configuration: a name re-used for other code is unknown."""
    try:
        wanted = None if records is None else set(records)
        entries = [*state.evaluations, *state.holdout]
        experiments = list(
            dict.fromkeys(
                e.experiment
                for e in entries
                if e.record.method == method and (wanted is None or e.record.id in wanted)
            )
        )
        configs = []
        for exp_id in experiments:
            exp = state.experiments.get(exp_id)
            configs.append(script_config(exp.cells, method) if exp is not None else None)
    except Exception:  # never let odd state stop a finding from being recorded
        return None
    return _agreed(configs)


def records_config(state: SessionState, records: Sequence[Any]) -> dict[str, Any] | None:
    """The configuration of the one method `records` (evaluation records) score, from the
    experiments that scored them; None when they score several methods or none."""
    methods = {r.method for r in records}
    if len(methods) != 1:
        return None
    return method_config(state, methods.pop(), [r.id for r in records])


def script_config(cells: Sequence[str], method: str) -> dict[str, Any] | None:
    """The configuration a script's section for `method` trains (see the module docstring);
    the caller's own copy (the sections are read once per script text)."""
    sections = _script_sections(tuple(cells))
    if sections is None:
        return None
    found = _agreed([config for name, config in sections if name == method])
    return copy.deepcopy(found)


@lru_cache(maxsize=256)
def _script_sections(
    cells: tuple[str, ...],
) -> tuple[tuple[Any, dict[str, Any] | None], ...] | None:
    """(method, configuration) of each section of the script, None when it does not parse or
    a section's names cannot be read. A section whose configuration cannot be read (out of
    range, say) has None, so that it spoils only its own method."""
    try:
        sections = _sections([ast.parse(cell) for cell in cells])
        methods = [_method_of(s) for s in sections]
    except Exception:  # SyntaxError, RecursionError: unknown
        return None
    out = []
    for method, section in zip(methods, sections, strict=True):
        try:
            config = _section_config(section) if isinstance(method, str) else None
        except Exception:  # a config out of range: unknown
            config = None
        out.append((method, config))
    return tuple(out)


def config_changes(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """`component.field: value` for each field of `config` that differs from naive
    (`MethodConfig.changes()`); None when there is none or the current method space no longer
    reads it (a finding outlives the space it was found in)."""
    if config is None:
        return None
    try:
        from aar.bench import method_space

        return dict(method_space().MethodConfig.model_validate(config).changes())
    except Exception:
        return None


def changes_text(config: dict[str, Any] | None) -> str | None:
    """`component.field=value, ...` (what the report and `aar memory show` print); None where
    `config_changes` is None, "naive (no field changed)" for naive's own configuration."""
    changes = config_changes(config)
    if changes is None:
        return None
    return ", ".join(f"{k}={v}" for k, v in changes.items()) or "naive (no field changed)"


def _agreed(configs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The one configuration every source says, else None."""
    if not configs or configs[0] is None or any(c != configs[0] for c in configs[1:]):
        return None
    return configs[0]


class _Section(list[ast.stmt]):
    """A section's statements, with what one walk of them says (`_facts`), kept once read."""

    facts: _Facts | None = None


@dataclass(frozen=True)
class _Facts:
    """What a section says, from one walk: each top-level name's literal (`_UNKNOWN` where
    it says nothing, see `_literals`) and its `train_public(_seeds)` calls, in order."""

    literals: dict[str, Any]
    calls: list[ast.Call]


def _sections(trees: list[ast.Module]) -> list[_Section]:
    """Top-level statements split into sections, each starting where `METHOD` is assigned;
    statements of a cell before its first such assignment belong to the section it starts
    (a setup cell may set CONFIG before METHOD). Statements before any section are dropped."""
    sections: list[_Section] = []
    for tree in trees:
        starts = [i for i, stmt in enumerate(tree.body) if "METHOD" in _assigned(stmt)]
        if not starts:
            if sections:
                sections[-1].extend(tree.body)
            continue
        cuts = [0, *starts[1:], len(tree.body)]
        sections.extend(_Section(tree.body[a:b]) for a, b in itertools.pairwise(cuts))
    return sections


def _facts(section: list[ast.stmt]) -> _Facts:
    """The section's `_Facts`, walked once per `_Section` (any other list: walked now).
    One pass counts each name's bindings, notes the names changed in place and keeps the
    training calls, so the cost is the section's size, not its size times its names."""
    known = getattr(section, "facts", None)
    if known is not None:
        return known
    binds: Counter[str] = Counter()
    changed: set[str] = set()
    calls: list[ast.Call] = []
    for stmt in section:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                binds[node.id] += 1
            elif isinstance(node, ast.Call) and _callee(node.func)[1] in _TRAINERS:
                calls.append(node)
            changed.update(_changed_names(node))
    values = _values(section)
    literals = {k: (_UNKNOWN if binds[k] != 1 or k in changed else v) for k, v in values.items()}
    facts = _Facts(literals, calls)
    if isinstance(section, _Section):
        section.facts = facts
    return facts


def _assigned(stmt: ast.stmt) -> list[str]:
    """The plain names a top-level assignment binds (`X = ...`, `X: T = ...`)."""
    if isinstance(stmt, ast.Assign):
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
        return [stmt.target.id]
    return []


def _literals(section: list[ast.stmt]) -> dict[str, Any]:
    """Each top-level name's literal value (`_UNKNOWN` when it is not a literal, or is bound
    more than once anywhere in the section, or changed in place: then it says nothing)."""
    return _facts(section).literals


def _values(section: list[ast.stmt]) -> dict[str, Any]:
    """Each top-level name's last assigned literal (`_UNKNOWN` when it is not a literal)."""
    values: dict[str, Any] = {}
    for stmt in section:
        value = getattr(stmt, "value", None)
        for name in _assigned(stmt):
            try:
                values[name] = ast.literal_eval(value) if value is not None else _UNKNOWN
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                values[name] = _UNKNOWN
    return values


def _changed_names(node: ast.AST) -> list[str]:
    """The names `node` may change without rebinding them: a parameter, a `global` or
    `nonlocal`, the base of an attribute (`name.update(...)`, `name.x = ...`: conservative)
    or of a subscript assigned to (`name[...] = ...`)."""
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return list(node.names)
    if isinstance(node, ast.Attribute) or (
        isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load)
    ):
        base = _base(node.value)
        return [] if base is None else [base]
    return []


def _base(node: ast.expr) -> str | None:
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _method_of(section: list[ast.stmt]) -> Any:
    return _literals(section).get("METHOD", _UNKNOWN)


_TRAINERS = ("train_public", "train_public_seeds")
"""The kernel entry points a script trains with: one seed, or a task's seeds stacked (the
configuration is the first argument of both, `aar_methods`' parameters the fourth)."""


def _section_config(section: list[ast.stmt]) -> dict[str, Any] | None:
    """The configuration the section's `train_public(_seeds)` calls train (all must agree)."""
    facts = _facts(section)
    return _agreed([_call_config(call, facts.literals) for call in facts.calls])


def _callee(func: ast.expr) -> tuple[str | None, str | None]:
    """(module, function) of `module.function`; (None, name) of a bare name."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Name):
        return None, func.id
    return None, None


def _call_config(call: ast.Call, values: dict[str, Any]) -> dict[str, Any] | None:
    from aar.bench import method_space

    module, _ = _callee(call.func)
    space = method_space()
    if module == "aar_recipes":
        config = _argument(call, 0, "config", values)
        if not isinstance(config, dict):
            return None
        return dict(space.MethodConfig.model_validate(config).model_dump())
    if module == "aar_methods":
        family = _argument(call, 0, "method", values)
        params = _argument(call, 3, "params", values, default=None)
        return _legacy_config(family, {} if params is None else params)
    return None


def _argument(
    call: ast.Call, index: int, keyword: str, values: dict[str, Any], default: Any = _UNKNOWN
) -> Any:
    """A call argument's literal value: written in place, or a name bound to a literal
    (`default` when it is not given; `_UNKNOWN` when it cannot be known)."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return _UNKNOWN  # *args / **kwargs: which argument is which is not written down
    node = next((k.value for k in call.keywords if k.arg == keyword), None)
    if node is None and len(call.args) > index:
        node = call.args[index]
    if node is None:
        return default
    if isinstance(node, ast.Name):
        return values.get(node.id, _UNKNOWN)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return _UNKNOWN


def _legacy_config(family: Any, params: Any) -> dict[str, Any] | None:
    """A legacy family's `FAMILY_CONFIGS` entry with its parameter mapped (None: unknown
    family or parameter)."""
    from aar.bench import method_space

    fields = LEGACY_PARAMS.get(family) if isinstance(family, str) else None
    if fields is None or not isinstance(params, dict) or set(params) - set(fields):
        return None
    space = method_space()
    config = {
        part: dict(values) for part, values in space.FAMILY_CONFIGS[family].model_dump().items()
    }
    for name, value in params.items():
        part, field = fields[name].split(".", 1)
        config[part][field] = value
    return dict(space.MethodConfig.model_validate(config).model_dump())


__all__ = [
    "LEGACY_PARAMS",
    "changes_text",
    "config_changes",
    "method_config",
    "records_config",
    "script_config",
]
