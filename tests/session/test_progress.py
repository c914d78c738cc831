"""The live display of `aar run`: the Progress snapshot and the text its renderer shows."""

from __future__ import annotations

import time

from rich.console import Console

from aar._cli.progress import progress_view
from aar.session import Experiment, Progress, SessionConfig, SessionState


def _text(progress: Progress) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(progress_view(progress))
    return " ".join(console.export_text().split())  # one line: columns are padded


def _state(evals: int) -> SessionState:
    config = SessionConfig.model_validate({"budgets": {"evals": evals}})
    return SessionState(id="s-test", config=config)


def test_before_any_event_it_shows_no_limit_and_after_an_update_the_planned_budget() -> None:
    progress = Progress()
    assert progress.evals_total is None
    assert "evaluations 0 model" in _text(progress) and " of " not in _text(progress)
    progress.update(_state(evals=36))  # what `live_progress` does before its first frame
    assert progress.evals_total == 36
    assert "evaluations 0 of 36" in _text(progress)


def test_the_cell_clock_stops_when_the_cell_ends() -> None:
    state = _state(evals=10)
    state.experiments["e-1"] = Experiment(id="e-1", round=1)
    progress = Progress()
    progress.cell_started("e-1", 1)
    progress.update(state)  # another event while the cell runs: its clock goes on
    assert progress.cell_running
    time.sleep(0.05)
    assert progress.cell_elapsed >= 0.05
    assert "e-1 cell 1" in _text(progress) and "ended" not in _text(progress)

    state.experiments["e-1"].cells.append("print(1)")  # its `cell` event landed
    progress.update(state)
    assert not progress.cell_running
    frozen = progress.cell_elapsed
    time.sleep(0.05)
    assert progress.cell_elapsed == frozen
    assert f"e-1 cell 1, {frozen:.1f} s, ended" in _text(progress)

    progress.cell_started("e-1", 2)  # the next cell starts its own clock
    assert progress.cell_running and progress.cell_elapsed < frozen + 0.05


def test_the_hypothesis_is_shown_as_text_not_markup() -> None:
    progress = Progress(hypothesis="[bold red]loud[/] \x1b[2J claim")
    assert "[bold red]loud[/] \\u{001b}[2J claim" in _text(progress)
