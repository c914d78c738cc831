"""`MethodConfig`: one point of the method space, a stack of small typed components.

Each component says what the student learns from, or how it trains, and every field has the
range the search may use. The default of every component is "off", so `MethodConfig()` is
naive training, and each built-in family is a configuration (`FAMILY_CONFIGS`). Everything
here is sane on binary and multiclass tasks and on text embeddings: it reads only weak soft
labels, the strong inputs and the task's student configuration, never ground truth.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Part(BaseModel):
    # Attribute docstrings become field descriptions: the prompt that lists the space to a
    # language model (and `MethodConfig.model_json_schema()`) reads them from here.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Labels(_Part):
    """The weak labels as targets: soft, hardened, or hardened with the weak class shares."""

    kind: Literal["soft", "hard", "balanced_hard"] = "soft"
    """`hard`: argmax; `balanced_hard`: argmax under quotas equal to the weak labels' mean
    class shares (hardening without letting one class swallow the others)."""
    temperature: float = Field(1.0, ge=0.05, le=20.0)
    """p ** (1 / T), renormalised, before hardening: below 1 sharpens, above 1 softens."""
    smoothing: float = Field(0.0, ge=0.0, le=0.9)
    """Mass moved to the uniform distribution (label smoothing), last."""


class Geometry(_Part):
    """Strong-feature consistency: smooth the targets over the student's own input geometry.

    Label propagation on a k-nearest-neighbour graph of the standardised strong inputs of
    transfer: F <- (1 - w) * targets + w * mean of F over each row's neighbours, `steps`
    times (one step is kNN smoothing). Close to mutual predictability (ICM, arXiv 2506.10139)
    and graph smoothing of weak labels (arXiv 2511.14166).
    """

    neighbours: int = Field(0, ge=0, le=100)
    """k (0: off)."""
    weight: float = Field(0.5, ge=0.0, le=1.0)
    """w: the share of each label taken from its neighbours at each step."""
    steps: int = Field(1, ge=1, le=20)
    """Propagation steps (1: kNN smoothing)."""
    metric: Literal["standardised", "raw", "cosine"] = "standardised"
    """Distances between inputs: Euclidean after standardising each feature, Euclidean on
    the raw inputs, or cosine (the angle of the raw inputs)."""


class Relabel(_Part):
    """Cross-fitted relabelling: `folds` students, each trained on the other folds, label the
    rows of their own fold; targets become (1 - weight) * targets + weight * those labels.
    Two folds is cotrain."""

    folds: Literal[0, 2, 3, 4, 5] = 0
    """0: off; else the number of folds."""
    weight: float = Field(0.5, ge=0.0, le=1.0)
    """The cross-fitted labels' share of the new targets."""


class Selection(_Part):
    """Which rows the final student trains on, and how much each counts."""

    keep_fraction: float = Field(1.0, gt=0.0, le=1.0)
    """The most confident share of rows within each target class (confidence filtering)."""
    weighting: Literal["none", "confidence"] = "none"
    """`confidence`: each row's loss weighted by its target's max probability, rescaled to
    mean 1 (adaptive confidence distillation, arXiv 2402.03749, in its simplest form)."""


class Loss(_Part):
    """The auxiliary confidence loss (openai/weak-to-strong `logconf`): the target is
    (1 - c) * target + c * the student's own hardened predictions, c ramped up over the first
    10 % of steps. Binary hardening matches the batch's weak positive share; multiclass
    hardening is `hardening`."""

    aux_coef: float = Field(0.0, ge=0.0, le=1.0)
    """c, the final weight of the student's own hardened predictions (0: plain cross-entropy)."""
    hardening: Literal["argmax", "balanced"] = "argmax"
    """Multiclass: `argmax` (unbalanced: at c >= 0.75 one class swallows the others on
    10-class digits) or `balanced` (class counts in each batch match the weak labels' class
    shares, most probable first). Binary tasks train the same either way. The default stays
    `argmax`, what configurations written before this field trained, so their deltas keep
    their meaning."""


class Training(_Part):
    """How the final student trains."""

    early_stopping: bool = False
    """Train on transfer minus its validation part; keep the epoch that agrees best with the
    weak labels there."""
    patience: int | None = Field(None, ge=1, le=100)
    """Early stopping ends after this many epochs without a better agreement (None: every
    epoch is considered)."""
    bootstrap_stages: int = Field(0, ge=0, le=4)
    """Stepping stones (a linear model, MLPs of width 16, 32, ...) before the student, each
    trained on the previous one's soft labels (0: none)."""
    self_training_rounds: int = Field(0, ge=0, le=3)
    """After training, retrain on (1 - w) * targets + w * the student's own transfer labels."""
    self_training_weight: float = Field(0.5, ge=0.0, le=1.0)
    """w, the student's own labels' share of the new targets."""
    self_training_labels: Literal["balanced_hard", "soft"] = "balanced_hard"
    """`soft` with weight 1 is self-distillation (the strong-to-strong control)."""


class Ensemble(_Part):
    """Combining: average the final students of several seeds (EnsemW2S, arXiv 2410.04571)."""

    members: int = Field(1, ge=1, le=8)
    """Students averaged (1: no ensemble); the first has the protocol seed."""
    bagging: bool = False
    """Each member after the first trains on a resample (with replacement) of its rows."""


class Control(_Part):
    """A control run instead of a method: hardened weak labels flipped at random."""

    random_flip: float = Field(0.0, ge=0.0, le=4.0)
    """Flip each hardened weak label to another class with probability this multiple of the
    weak labels' estimated error rate, mean(1 - max prob) (0: off)."""


class MethodConfig(_Part):
    """A method: its components, each off by default (`MethodConfig()` is naive)."""

    labels: Labels = Labels()
    geometry: Geometry = Geometry()
    relabel: Relabel = Relabel()
    selection: Selection = Selection()
    loss: Loss = Loss()
    training: Training = Training()
    ensemble: Ensemble = Ensemble()
    control: Control = Control()

    def changes(self) -> dict[str, object]:
        """The fields that differ from naive, as `component.field: value` (a config's diff)."""
        return diff(MethodConfig(), self)


def diff(before: MethodConfig, after: MethodConfig) -> dict[str, object]:
    """`component.field: value` for every field of `after` that differs from `before`."""
    old, new = before.model_dump(), after.model_dump()
    return {
        f"{part}.{name}": value
        for part, fields in new.items()
        for name, value in fields.items()
        if old[part][name] != value
    }


def _config(**parts: dict) -> MethodConfig:
    return MethodConfig.model_validate(parts)


FAMILY_CONFIGS: dict[str, MethodConfig] = {
    "naive": MethodConfig(),
    "logconf": _config(loss={"aux_coef": 0.5}),
    "bootstrap": _config(training={"bootstrap_stages": 2}),
    "early_stopping": _config(training={"early_stopping": True, "patience": 2}),
    "confidence_filter": _config(selection={"keep_fraction": 0.5}),
    "cotrain": _config(relabel={"folds": 2, "weight": 0.5}),
    "label_smoothing": _config(labels={"smoothing": 0.1}),
    "temperature": _config(labels={"temperature": 0.5}),
    "control_random_flip": _config(control={"random_flip": 1.0}),
    "control_hard_labels": _config(labels={"kind": "hard"}),
    "knn_smoothing": _config(geometry={"neighbours": 10, "weight": 0.5}),
    "label_propagation": _config(geometry={"neighbours": 10, "weight": 0.9, "steps": 10}),
    "cosine_propagation": _config(
        geometry={"neighbours": 20, "weight": 0.99, "steps": 20, "metric": "cosine"}
    ),
    "propagation_self_training": _config(
        geometry={"neighbours": 10, "weight": 0.9, "steps": 10},
        training={"self_training_rounds": 1},
    ),
    "propagation_logconf": _config(
        geometry={"neighbours": 10, "weight": 0.9, "steps": 10}, loss={"aux_coef": 0.5}
    ),
    "self_training": _config(training={"self_training_rounds": 2, "self_training_weight": 1.0}),
    "crossfit": _config(relabel={"folds": 3, "weight": 0.5}),
    "ensemble": _config(ensemble={"members": 4, "bagging": True}),
    "confidence_weighting": _config(selection={"weighting": "confidence"}),
    "control_self_distillation": _config(
        training={
            "self_training_rounds": 1,
            "self_training_weight": 1.0,
            "self_training_labels": "soft",
        }
    ),
}
"""Each built-in family at its default parameters, as a configuration. The first ten train
exactly what `aar_methods`' recipes of the same name train (tested prediction for prediction)."""
