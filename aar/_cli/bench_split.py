"""The split a predictions file's name says it holds, and the warning when `--split` says
another (`aar bench evaluate X.test.npy --split holdout`)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from aar._cli.output import warn

SPLIT_NAMES = ("weak_train", "transfer", "test", "holdout")
"""The splits a prediction file's name may say it is for (as sessions name theirs:
`seed-42.test.npy`, `seed-42.holdout.npy`)."""


def named_split(path: Path) -> str | None:
    """The split a file's name says it holds: a dot-, dash- or underscore-separated word of its
    name (`preds.test.npy`, `holdout-preds.csv`), the last such word when several; else None."""
    words = re.split(r"[._\-]+", path.name.lower())
    joined = [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    found = [w for w in (*words, *joined) if w in SPLIT_NAMES]
    return found[-1] if found else None


def warn_named_split(predictions: Path, split: str) -> None:
    """Predictions for one split scored as another are a mix-up that no size check catches
    when the splits have the same number of rows (digits-ge5: 269 and 269): warn, in the
    words of the file's name, before the split is scored or refused."""
    said = named_split(predictions)
    if said is not None and said != split:
        warn(
            f"{predictions.name} is named for the {said} split, but --split is {split}: "
            f"check that these are {split} predictions"
        )
