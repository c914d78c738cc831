"""What the scripted researcher makes of `--direction`: regions of its method families.

An LLM researcher reads directions as prose (they are in its instructions). The scripted
researcher cannot, so it understands a fixed vocabulary: a direction that names one of the
regions below (anywhere in its text, any case) puts that region's families first in the
round, in the order given. A direction that names none is refused when the session is made,
with the list of what it understands; a session made by an older aar, which took any text,
still resumes (its unknown directions steer nothing, as they did then).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aar.errors import UsageError

REGIONS: dict[str, tuple[str, ...]] = {
    "confidence": ("logconf", "confidence_filter", "confidence_weighting", "temperature"),
    "calibration": ("temperature", "label_smoothing"),
    "label noise": ("confidence_filter", "label_smoothing", "control_random_flip"),
    "regularisation": ("early_stopping", "label_smoothing"),
    "regularization": ("early_stopping", "label_smoothing"),
    "early stopping": ("early_stopping",),
    "self-training": ("self_training", "propagation_self_training", "bootstrap", "crossfit"),
    "bootstrapping": ("bootstrap",),
    "co-training": ("cotrain", "crossfit"),
    "weak views": ("cotrain",),
    "geometry": (
        "label_propagation",
        "cosine_propagation",
        "knn_smoothing",
        "propagation_self_training",
    ),
    "consistency": ("label_propagation", "knn_smoothing", "propagation_logconf"),
    "label propagation": ("label_propagation", "cosine_propagation", "propagation_self_training"),
    "ensemble": ("ensemble",),
    "ensembles": ("ensemble",),
    "controls": ("control_hard_labels", "control_random_flip", "control_self_distillation"),
}
"""Each region's words and the families (see `aar.agent._experiments.FAMILIES`) it names."""


def _names(direction: str, region: str) -> bool:
    """`region` appears in `direction` as whole words ("confidence-based" names confidence)."""
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", region))
    return re.search(rf"(?<![a-z]){words}(?![a-z])", direction.lower()) is not None


def direction_families(directions: Sequence[str], *, strict: bool = True) -> list[str]:
    """The families `directions` steer the scripted researcher to, first named first.

    `strict` (a new session): a direction that names no region is one `UsageError` listing
    the regions. Otherwise (resuming a session an older aar made) it steers nothing."""
    families: list[str] = []
    for n, direction in enumerate(directions, 1):
        named = [region for region in REGIONS if _names(direction, region)]
        if not named and strict:
            raise UsageError(
                f"--direction {n} ({direction[:60]!r}) names nothing the scripted researcher "
                f"understands; it understands: {', '.join(REGIONS)} (an LLM researcher, "
                "--model, reads any direction)"
            )
        for region in named:
            families += [f for f in REGIONS[region] if f not in families]
    return families
