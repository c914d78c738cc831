"""`--direction` steers the scripted researcher: the families a direction names come first.

Before, the scripted researcher never read its directions ("confidence-based losses" got
bootstrap and a random-flip control)."""

from __future__ import annotations

import pytest

from aar.agent import REGIONS, choose_families, direction_families
from aar.agent._experiments import FAMILIES
from aar.errors import UsageError


def test_every_region_names_real_families() -> None:
    for region, families in REGIONS.items():
        assert families and all(f in FAMILIES for f in families), region


def test_a_direction_names_regions_anywhere_in_its_text() -> None:
    assert direction_families(["confidence-based losses"]) == [
        "logconf",
        "confidence_filter",
        "confidence_weighting",
        "temperature",
    ]
    assert direction_families(["Try CO-TRAINING on weak views", "early stopping"]) == [
        "cotrain",
        "crossfit",
        "early_stopping",
    ]
    assert direction_families([]) == []
    assert direction_families(["the student's feature geometry"]) == [
        "label_propagation",
        "cosine_propagation",
        "knn_smoothing",
        "propagation_self_training",
    ]


def test_a_word_inside_another_word_names_nothing() -> None:
    with pytest.raises(UsageError):
        direction_families(["selfconfidence"])


def test_an_unknown_direction_is_one_line_listing_what_is_understood() -> None:
    with pytest.raises(UsageError) as caught:
        direction_families(["quantum annealing"])
    message = str(caught.value)
    assert "\n" not in message and "--direction 1" in message
    assert all(region in message for region in REGIONS)
    assert direction_families(["quantum annealing"], strict=False) == []


def test_preferred_families_come_first_and_a_control_stays() -> None:
    preferred = direction_families(["confidence-based losses"])
    picks = choose_families([], ["digits-ge5"], 3, preferred)
    assert picks == ["logconf", "confidence_filter", "control_hard_labels"]
    assert choose_families([], ["digits-ge5"], 3) == [
        "propagation_self_training",
        "self_training",
        "control_hard_labels",
    ]
    noisy = choose_families([], ["digits-ge5"], 3, direction_families(["label noise"]))
    assert noisy == ["confidence_filter", "label_smoothing", "control_random_flip"]
