"""Identical predictions scored again are a calm `repeat`, never a probe flag.

Training is deterministic and the scorer's ledger is installation-wide, so a later session's
baselines resubmit byte for byte what an earlier session scored. Those reveal nothing new: the
scorer flags them `repeat` and reports give them one calm line, while a submission that
changes a row (`near_duplicate`) or only the probabilities (`duplicate`) keeps the probe flag.
The ladder's answer is the same either way (the attack battery checks the mechanism).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from aar.bench import EvalRecord
from aar.scorer import Scorer, ScoreRequest
from aar.scorer._scorer import is_repeat_flag
from aar.scorer.attacks import split_targets
from aar.session._probe_flags import is_probe_flag, repeat_lines
from aar.session._report_sections import probe_flag_lines

TASK = "breast-cancer"  # 86 test rows; logconf differs from naive in a few of them
BASELINES = ("naive", "logconf")


@pytest.fixture(scope="module")
def honest() -> dict[str, np.ndarray]:
    return split_targets(TASK, 42)["test"].honest


def _score(scorer: Scorer, probs: np.ndarray, method: str, account: str) -> EvalRecord:
    request = ScoreRequest(
        task=TASK,
        seed=42,
        method=method,
        code_sha256="c",
        account=account,
        budget=50,
        probs=probs.tolist(),
    )
    return scorer.score(request).record


def _session(scorer: Scorer, honest: dict[str, np.ndarray], name: str) -> dict[str, EvalRecord]:
    """A session's baselines, as every session scores them."""
    return {m: _score(scorer, honest[m], m, f"session:{name}") for m in BASELINES}


def _flip_one(probs: np.ndarray) -> np.ndarray:
    out = probs.copy()
    out[0] = out[0, ::-1] if out[0, 0] != out[0, 1] else [0.9, 0.1]
    return out


def _other_probs(probs: np.ndarray) -> np.ndarray:
    """The same hardened labels from other probabilities (pulled towards 0.5 a little)."""
    out = 0.9 * probs + 0.05
    assert (out.argmax(axis=1) == probs.argmax(axis=1)).all()
    return out


def test_a_second_sessions_baselines_are_repeats_not_probe_flags(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    scorer = Scorer(tmp_path / "ledger", fsync=False)
    first = _session(scorer, honest, "one")
    left = scorer.pool_status(TASK).answers_used
    second = _session(scorer, honest, "two")
    assert all(not r.flags for r in first.values())  # nothing earlier to repeat
    again = second["logconf"]
    (flag,) = again.flags
    assert flag == (
        f"repeat: predictions identical to record {first['logconf'].id} (an earlier "
        "evaluation of the same predictions; it reveals nothing new)"
    )
    assert is_repeat_flag(flag) and not is_probe_flag(flag)
    # the ladder's answer is what it was: a repeat of the earlier record, not informative
    assert again.answer == "repeat" and again.repeat_of == first["logconf"].id
    assert again.predictions_sha256 == first["logconf"].predictions_sha256
    assert scorer.pool_status(TASK).answers_used == left
    for k in ("acc", "pgr_acc"):
        a, b = again.metrics[k], first["logconf"].metrics[k]
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert not second["naive"].flags  # the harness's naive student is never flagged
    records = [*first.values(), *second.values()]
    assert probe_flag_lines(records) == []
    assert repeat_lines(records) == [
        "1 submission repeated predictions already scored (e.g. this session's baselines "
        "re-run): nothing new was revealed"
    ]
    third = _session(scorer, honest, "three")["logconf"]
    assert third.flags[0].startswith(
        f"repeat: predictions identical to record {first['logconf'].id}"
    )
    assert repeat_lines([again, third])[0].startswith("2 submissions repeated predictions")


def test_a_changed_row_or_changed_probabilities_keep_the_probe_flag(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    scorer = Scorer(tmp_path / "ledger", fsync=False)
    base = _session(scorer, honest, "one")["logconf"]
    _session(scorer, honest, "two")  # the repeats do not hide what follows
    flipped = _score(scorer, _flip_one(honest["logconf"]), "probe1", "session:two")
    assert flipped.answer == "repeat" and flipped.repeat_of == base.id
    assert (
        flipped.flags[0] == f"near_duplicate: 1 hardened predictions differ from record {base.id}"
    )
    moved = _score(scorer, _other_probs(honest["logconf"]), "probe2", "session:two")
    assert moved.answer == "repeat" and moved.repeat_of == base.id
    assert moved.flags[0] == f"duplicate: 0 hardened predictions differ from record {base.id}"
    assert is_probe_flag(flipped.flags[0]) and is_probe_flag(moved.flags[0])
    lines = probe_flag_lines([flipped, moved])
    named = [re.findall(r"^probe flag: 1 of 1 submissions of (\w+) ", x) for x in lines]
    assert named == [["probe1"], ["probe2"]]
    assert repeat_lines([flipped, moved]) == []


def test_identical_predictions_name_their_twin_even_behind_a_duplicate(
    tmp_path: Path, honest: dict[str, np.ndarray]
) -> None:
    """The nearest earlier entry at distance 0 may have other probabilities (the first of
    equals); the repeat still names the entry with these very predictions."""
    scorer = Scorer(tmp_path / "ledger", fsync=False)
    other = _score(scorer, _other_probs(honest["logconf"]), "other", "session:one")
    exact = _score(scorer, honest["logconf"], "logconf", "session:one")
    assert exact.flags[0].startswith(
        f"duplicate: 0 hardened predictions differ from record {other.id}"
    )
    again = _score(scorer, honest["logconf"], "logconf", "session:two")
    assert again.repeat_of == other.id  # the ladder repeats the first of equals, as before
    assert again.flags[0].startswith(f"repeat: predictions identical to record {exact.id} ")


def test_the_terminal_shows_a_repeat_as_a_note(
    tmp_path: Path, honest: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    from aar._cli.bench_views import print_record

    scorer = Scorer(tmp_path / "ledger", fsync=False)
    _score(scorer, honest["logconf"], "logconf", "session:one")
    again = _score(scorer, honest["logconf"], "logconf", "session:two")
    capsys.readouterr()
    print_record(again, as_json=False)
    out = capsys.readouterr().out
    assert "note: repeat: predictions identical to record" in out and "flag:" not in out
