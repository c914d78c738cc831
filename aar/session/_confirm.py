"""Confirmation on fresh seeds: the data that decides a verdict never chose it.

At the end of a round the session screens every (method, task) the round scored on the test
feedback (`_verdicts.screened_units`; one whose scores the scorer withheld goes on). For those,
it exports the round's confirmation seeds (`confirmation_seeds`: seeds no round of the session
has used, the same for no two rounds), re-runs the exact cells of the experiment that scored
it (the cited one, if a finding cites it), and of the session's baselines experiment, in a
fresh sandbox with that export mounted at /task (same code, same sha256), and scores their
holdout once. `_verdicts` then decides on those holdout rows, Holm-corrected over the screened
comparisons. Nothing here returns a number to the researcher.

An experiment whose code names its (task, seed) pairs cannot run on other seeds; its cells
fail, nothing is scored, and its verdict stays inconclusive (fail closed). aar's own scripts
run on every mounted pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aar.session._event_kinds import Note
from aar.session._models import Experiment

if TYPE_CHECKING:
    from aar.session._session import Session

CONFIRM_SEEDS = 10
"""Fresh seeds per round's confirmation (seeds are cheap: the suite trains in seconds)."""
CONFIRM_SEED_BASE = 1000
CONFIRM_DIR = "confirm"
"""Exports of confirmation seeds, `confirm/round-<n>/` (git-ignored, like `public/`)."""


def confirmation_seeds(own: list[int], number: int, count: int | None = None) -> list[int]:
    """Round `number`'s confirmation seeds: `count` seeds from CONFIRM_SEED_BASE on, a block
    per round (so a later round never confirms on seeds an earlier verdict was decided on),
    skipping the session's own seeds."""
    count = CONFIRM_SEEDS if count is None else count
    out: list[int] = []
    seed = CONFIRM_SEED_BASE + (number - 1) * count
    while len(out) < count:
        if seed not in own:
            out.append(seed)
        seed += 1
    return out


def confirm_round(session: Session, number: int) -> None:
    """Re-run and score on fresh seeds what the round's screen chose (once: a resumed round
    reuses the confirmation runs the log already holds)."""
    from aar.session._finalize import BASELINES
    from aar.session._verdicts import screened_units

    state = session.state
    units = screened_units(state, number)
    if not units:
        return
    seeds = confirmation_seeds(state.config.seeds, number)
    tasks = sorted({task for (_, task), _ in units})
    baselines = [e for e in state.experiments.values() if e.hypothesis_id == BASELINES]
    if not baselines:
        session.emit(Note(message="confirmation skipped: the session has no baselines run"))
        return
    rel = _export(session, number, [(t, s) for t in tasks for s in seeds])
    runs: dict[str, list[tuple[str, str]]] = {baselines[-1].id: [("naive", t) for t in tasks]}
    for (method, task), experiment in units:
        runs.setdefault(experiment, []).append((method, task))
    session.emit(
        Note(
            message=f"confirming {len(units)} screened comparison(s) on fresh seeds "
            f"{seeds[0]}-{seeds[-1]} ({len(seeds)} seeds, {', '.join(tasks)})",
        )
    )
    for experiment, targets in runs.items():
        original = state.experiments[experiment]
        rerun = _rerun(session, original, rel, number)
        if rerun is not None:
            _score(session, rerun, targets, seeds, number)


def _export(session: Session, number: int, pairs: list[tuple[str, int]]) -> str:
    from aar.scorer import export_public_many

    rel = f"{CONFIRM_DIR}/round-{number}"
    target = session.root / rel
    _ignore(session.root)
    if not (target / "index.json").is_file():
        export_public_many(pairs, target)
    return rel


def _ignore(root: Path) -> None:
    """Keep the confirmation exports out of git, as `public/` is (sessions made before have a
    .gitignore without the rule)."""
    path = root / ".gitignore"
    text = path.read_text() if path.is_file() else ""
    if f"/{CONFIRM_DIR}/" not in text.split():
        path.write_text(
            text + ("" if text.endswith("\n") or not text else "\n") + f"/{CONFIRM_DIR}/\n"
        )


def _rerun(session: Session, original: Experiment, task_dir: str, number: int) -> Experiment | None:
    """The done confirmation of `original` this round, or a new one."""
    from aar.hashing import cells_sha256
    from aar.session._errors import RoundOver

    for exp in session.state.experiments.values():
        if exp.confirms == original.id and exp.round == number and exp.status == "done":
            return exp if exp.cells == original.cells else None
    if original.proposal_id and not _still_approved(session, original):
        return None
    try:
        rerun = session.experiments.run_confirmation(original, task_dir)
    except RoundOver as exc:
        session.emit(Note(message=f"confirmation of {original.id} not run: {exc.why}"))
        return None
    if cells_sha256(rerun.cells) != cells_sha256(original.cells):
        session.emit(
            Note(
                message=f"confirmation of {original.id} ({rerun.id}) stopped at cell "
                f"{len(rerun.cells)} of {len(original.cells)}; its comparisons stay unconfirmed",
            )
        )
        return None
    return rerun


def _still_approved(session: Session, original: Experiment) -> bool:
    """An approved follow-up's code re-runs only through the review gate, as it first ran:
    bound to the approval of exactly these cells."""
    from aar.errors import AarError
    from aar.review import authorize, read_proposal
    from aar.sandbox import split_cells

    try:
        proposal = read_proposal(session.root / "proposals" / f"{original.proposal_id}.json")
        if split_cells(proposal.code) != original.cells:
            raise AarError("its cells are not the approved proposal's")
        authorize(session.settings.runs_dir, session.id, proposal, proposal.code)
    except AarError as exc:
        session.emit(Note(message=f"confirmation of {original.id} not run: {exc}"))
        return False
    return True


def _score(
    session: Session,
    rerun: Experiment,
    targets: list[tuple[str, str]],
    seeds: list[int],
    number: int,
) -> None:
    """Score the holdout of each (method, task) on every confirmation seed, once."""
    from aar.session._finalize import score_holdout_once

    state = session.state
    done = {(e.experiment, e.record.method, e.record.task, e.record.seed) for e in state.holdout}
    for method, task in targets:
        for seed in seeds:
            if (rerun.id, method, task, seed) not in done:
                score_holdout_once(
                    session, rerun, method, (task, seed), number, what="confirmation holdout"
                )


__all__ = ["CONFIRM_SEEDS", "confirm_round", "confirmation_seeds"]
