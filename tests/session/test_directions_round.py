"""A scripted round follows its `--direction`: the families it names are the round's
hypotheses (a real round: baselines, sandboxed experiments, the scorer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from session_support import session_of, small_config

from aar.agent import run_round, start_round


def _families(directions: list[str]) -> list[str | None]:
    with session_of(small_config(directions=directions, hypotheses=2, seeds=[42])) as session:
        start_round(session)
        run_round(session)
        return [h.family for h in session.state.hypotheses.values()]


@pytest.mark.slow
def test_a_direction_picks_the_round_s_families(workspace: Path) -> None:
    assert _families(["label noise"]) == ["confidence_filter", "control_random_flip"]
    assert _families([]) == ["propagation_self_training", "control_hard_labels"]
