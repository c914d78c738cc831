"""The families of the method space: configurations (`MethodConfig`) the kernel trains.

Each is a point of `aar_recipes`' space (`FAMILY_CONFIGS`, the one definition of what it
trains), with the text a report quotes and a hypothesis template. Their scripts call
`aar_recipes.train_public(CONFIG, ...)` and pin the digest of both kernel packages.
"""

from __future__ import annotations

import json
from typing import Any


def family_config(name: str) -> dict[str, Any]:
    """The `MethodConfig` of family `name`, as the mapping a script holds."""
    from aar.bench import method_space

    return dict(method_space().FAMILY_CONFIGS[name].model_dump())


def config_delta(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The components of `config` that differ from naive, with only their changed fields
    (`MethodConfig.changes()` nested by component): what a script holds
    (`MethodConfig.model_validate` fills in the rest, pinned with the library by its digest)."""
    from aar.bench import method_space

    delta: dict[str, dict[str, Any]] = {}
    for path, value in method_space().MethodConfig.model_validate(config).changes().items():
        part, name = path.split(".", 1)
        delta.setdefault(part, {})[name] = value
    return delta


def with_params(config: dict[str, Any], params: dict[str, float | int]) -> dict[str, Any]:
    """`config` with `component.field` parameters set (a family's key parameter), checked
    by `MethodConfig`; the auxiliary loss, when on, hardens balanced (what aar writes now:
    `aar.bench.with_balanced_hardening`)."""
    from aar.bench import method_space, with_balanced_hardening

    out = {part: dict(fields) for part, fields in config.items()}
    for path, value in params.items():
        part, field = path.split(".", 1)
        out[part][field] = value
    out = with_balanced_hardening(out)
    return dict(method_space().MethodConfig.model_validate(out).model_dump())


def check_fields(config: dict[str, Any], fields: dict[str, Any]) -> dict[str, float | int]:
    """`fields` (`component.field: number`) checked as changes to `config`: each a numeric
    field of `MethodConfig`, the result valid. A `ValueError` says which is not."""
    from pydantic import ValidationError

    from aar.bench import method_space

    space = method_space().MethodConfig
    out: dict[str, float | int] = {}
    for path, value in fields.items():
        part, _, name = path.partition(".")
        component = space.model_fields.get(part)
        field = None if component is None else component.annotation.model_fields.get(name)
        if (
            field is None
            or field.annotation not in (int, float, int | None)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            raise ValueError(f"{path!r} is not a numeric field of the method space")
        out[path] = int(value) if field.annotation is not float else float(value)
    try:
        with_params(config, out)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    return out


ParamSpec = tuple[str, str, float, tuple[float, ...], float, float, bool]

CONFIG_FAMILY_TEXT: dict[str, tuple[str, str, tuple[str, ...], ParamSpec | None]] = {
    "label_propagation": (
        "Label propagation of the weak soft labels over a 10-nearest-neighbour graph of the "
        "standardised strong inputs of transfer (weight 0.9, 10 steps, class mass "
        "normalised), then cross-entropy on the propagated labels.",
        "Smoothing the weak labels over the strong features' neighbour graph (label "
        "propagation, weight {value}) recovers more of the gap than naive training on {tasks}.",
        ("strong_geometry",),
        (
            "geometry.weight",
            "share of each label taken from its neighbours at each step",
            0.9,
            (0.5, 0.8, 0.9, 0.95),
            0.0,
            1.0,
            False,
        ),
    ),
    "cosine_propagation": (
        "Label propagation of the weak soft labels over a 20-nearest-neighbour graph of the "
        "strong inputs by cosine similarity (weight 0.99, 20 steps, class mass normalised): "
        "labels spread far along the strong features' directions.",
        "Propagating the weak labels over the strong features' cosine neighbour graph "
        "({value} neighbours) recovers more of the gap than naive training on {tasks}.",
        ("strong_geometry",),
        (
            "geometry.neighbours",
            "neighbours of each row in the graph",
            20,
            (10, 20, 40),
            1,
            100,
            True,
        ),
    ),
    "knn_smoothing": (
        "kNN smoothing: each weak soft label is mixed half and half with the mean of its 10 "
        "nearest neighbours' in the standardised strong inputs (one propagation step).",
        "Mixing each weak label with its {value} nearest strong-feature neighbours' (kNN "
        "smoothing) recovers "
        "more of the gap than naive training on {tasks}.",
        ("strong_geometry",),
        (
            "geometry.neighbours",
            "neighbours each weak label is mixed with",
            10,
            (5, 10, 20, 40),
            1,
            100,
            True,
        ),
    ),
    "propagation_self_training": (
        "Label propagation (as label_propagation), then one round of self-training: the "
        "student retrains on half the propagated labels and half its own class-balanced "
        "hardened predictions on transfer.",
        "Label propagation followed by one round of class-balanced self-training (weight "
        "{value}) recovers more of the gap than naive training on {tasks}.",
        ("strong_geometry", "self_training", "combination"),
        (
            "training.self_training_weight",
            "weight of the student's own hardened labels",
            0.5,
            (0.25, 0.5, 0.75, 1.0),
            0.0,
            1.0,
            False,
        ),
    ),
    "propagation_logconf": (
        "Label propagation (as label_propagation), trained with the auxiliary confidence loss "
        "(coefficient 0.5).",
        "Label propagation combined with the auxiliary confidence loss (coefficient {value}) "
        "recovers more of the gap than naive training on {tasks}.",
        ("strong_geometry", "logconf", "combination"),
        (
            "loss.aux_coef",
            "weight of the student's own hardened predictions",
            0.5,
            (0.25, 0.5, 0.75),
            0.0,
            1.0,
            False,
        ),
    ),
    "self_training": (
        "Self-training: two rounds in which the student retrains on its own class-balanced "
        "hardened predictions on transfer (hardening under quotas equal to the weak labels' "
        "class shares, so no class is swallowed).",
        "{value} round(s) of class-balanced self-training recover more of the gap than naive "
        "training on {tasks}.",
        ("self_training",),
        (
            "training.self_training_rounds",
            "rounds of retraining on the student's own labels",
            2,
            (1, 2, 3),
            1,
            3,
            True,
        ),
    ),
    "crossfit": (
        "Cross-fitted relabelling: three students, each trained on two thirds of transfer, "
        "label the remaining third; the final student learns half weak, half cross-fitted "
        "labels.",
        "Mixing in cross-fitted student labels (3 folds, weight {value}) recovers more of the "
        "gap than naive training on {tasks}.",
        ("self_training", "multi_view"),
        (
            "relabel.weight",
            "weight of the cross-fitted labels in the targets",
            0.5,
            (0.25, 0.5, 0.75, 1.0),
            0.0,
            1.0,
            False,
        ),
    ),
    "ensemble": (
        "An ensemble of 4 students (different seeds; members after the first on bootstrap "
        "resamples of transfer), probabilities averaged (EnsemW2S-style bagging).",
        "Averaging {value} bagged students recovers more of the gap than naive training on "
        "{tasks}.",
        ("seed_variance", "combination"),
        ("ensemble.members", "students averaged", 4, (2, 4, 8), 2, 8, True),
    ),
    "confidence_weighting": (
        "Confidence weighting: each transfer row's loss is weighted by its weak label's max "
        "probability (mean weight 1).",
        "Weighting rows by the weak supervisor's confidence recovers more of the gap than "
        "naive training on {tasks}.",
        ("confidence_filtering",),
        None,
    ),
    "control_self_distillation": (
        "Control (strong-to-strong): naive training, then the student retrains on its own soft "
        "predictions on transfer; tells what a second pass alone adds.",
        "Distilling the naive student into a fresh one (self-distillation) trains a better "
        "student than naive on {tasks}.",
        ("self_training", "naive"),
        None,
    ),
}
"""name -> (what it does, hypothesis template with `{value}` of its key parameter, memory
glossary keys, its key parameter: (`component.field`, description, default, sweep grid,
minimum, maximum, integer) or None)."""


def space_summary() -> str:
    """The method space as a language model reads it: each component and its fields, with
    type or range, default and description, from `MethodConfig` itself (one definition)."""
    from aar.bench import method_space

    space = method_space().MethodConfig
    lines = []
    for part, info in space.model_fields.items():
        component = info.annotation
        doc = " ".join((component.__doc__ or "").split())
        lines.append(f"- {part}: {doc}")
        for name, field in component.model_fields.items():
            lines.append(
                f"    - {name} ({_field_range(field)}, default {json.dumps(field.default)}): "
                f"{' '.join((field.description or '').split())}"
            )
    return "\n".join(lines)


def _field_range(field: Any) -> str:
    """'soft | hard', '0.05 to 20', 'true | false' or the type name of a config field."""
    from typing import get_args

    choices = get_args(field.annotation)
    if field.annotation is bool:
        return "true | false"
    if choices and all(isinstance(c, str | int) and not isinstance(c, bool) for c in choices):
        return " | ".join(map(str, choices))
    low = high = None
    for m in field.metadata:
        low = m.ge if getattr(m, "ge", None) is not None else low
        low = m.gt if getattr(m, "gt", None) is not None else low
        high = m.le if getattr(m, "le", None) is not None else high
    kind = "whole number" if "int" in str(field.annotation) else "number"
    if low is not None and high is not None:
        return f"{kind} {low} to {high}"
    return kind
