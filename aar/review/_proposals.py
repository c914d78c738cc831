"""Proposal files: `<runs_dir>/<session-id>/proposals/<proposal-id>.json`.

A proposal is written once (atomically, never over an existing file) and read back with
every check that binds it to its place: the code must hash to its `sha256`, the file name must
be its id, and the session directory it lies in must be its session. A file copied into
another session, or a proposal id that appears in two sessions, is refused rather than
guessed at.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from aar.errors import PathError, validation_message
from aar.files import write_new
from aar.review._errors import ItemNotFoundError, ProposalFileError
from aar.review._models import ITEM_ID, PROPOSAL_ID, ItemKind, Proposal

PROPOSALS_DIR = "proposals"
_MAX_FILE_BYTES = 4 << 20


def check_runs_dir(runs_dir: Path) -> Path:
    """`runs_dir` must be an existing directory (nothing is created for a typo)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.exists():
        raise PathError(f"runs directory {runs_dir} does not exist")
    if not runs_dir.is_dir():
        raise PathError(f"runs directory {runs_dir} is not a directory")
    return runs_dir


def is_proposal_id(item_id: str) -> bool:
    return re.fullmatch(PROPOSAL_ID, item_id) is not None


def item_kind(item_id: str) -> ItemKind:
    """Which kind of item an id names: `p-` + 12 hex is a proposal, any other id a finding."""
    if is_proposal_id(item_id):
        return "proposal"
    if item_id.startswith("p-"):
        raise ItemNotFoundError(f"{item_id!r} is not a proposal id (p- and 12 hex digits)")
    if re.fullmatch(ITEM_ID, item_id) is None:
        raise ItemNotFoundError(f"{item_id!r} is not a proposal or finding id")
    return "finding"


def proposal_path(session_dir: Path, proposal_id: str) -> Path:
    return Path(session_dir) / PROPOSALS_DIR / f"{proposal_id}.json"


def write_proposal(session_dir: Path, proposal: Proposal) -> Path:
    """Write `proposal` into its session directory (whose name must be its session id)."""
    session_dir = Path(session_dir)
    if session_dir.name != proposal.session_id:
        raise ProposalFileError(
            f"proposal {proposal.id} belongs to session {proposal.session_id}, "
            f"not to the session directory {session_dir}"
        )
    if not session_dir.is_dir():
        raise PathError(f"session directory {session_dir} does not exist")
    path = proposal_path(session_dir, proposal.id)
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise PathError(f"cannot create {path.parent}: {exc.strerror}") from None
    if path.exists():
        raise ProposalFileError(f"proposal file {path} already exists; proposals never change")
    write_new(path, proposal.model_dump_json(indent=2) + "\n")
    return path


def read_proposal(path: Path) -> Proposal:
    """The proposal in `path`, checked against its code, its file name and its session."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ProposalFileError(f"proposal file {path} is larger than 4 MiB")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ItemNotFoundError(f"no proposal file {path}") from None
    except OSError as exc:
        raise ProposalFileError(f"cannot read proposal file {path}: {exc.strerror}") from None
    try:
        proposal = Proposal.model_validate_json(raw)
    except ValidationError as exc:
        raise ProposalFileError(
            validation_message(exc, prefix=f"proposal file {path} is damaged: ", model=Proposal)
        ) from None
    _check_place(path, proposal)
    return proposal


def _check_place(path: Path, proposal: Proposal) -> None:
    if path.name != f"{proposal.id}.json":
        raise ProposalFileError(f"proposal file {path} holds proposal {proposal.id}: renamed?")
    session = path.parent.parent.name
    if path.parent.name != PROPOSALS_DIR or session != proposal.session_id:
        raise ProposalFileError(
            f"proposal file {path} lies in session {session} but belongs to session "
            f"{proposal.session_id}: copied from another session?"
        )


def session_proposals(session_dir: Path) -> list[Proposal]:
    """Every proposal of one session, oldest first."""
    return _read_oldest_first(sorted((Path(session_dir) / PROPOSALS_DIR).glob("*.json")))


def _read_oldest_first(
    paths: list[Path], damaged: list[tuple[Path, str]] | None = None
) -> list[Proposal]:
    """The proposals in `paths`, oldest first. A damaged file is an error, or, when a `damaged`
    list is given, appended to it as (path, problem) and skipped."""
    found = []
    for path in paths:
        try:
            found.append(read_proposal(path))
        except ProposalFileError as exc:
            if damaged is None:
                raise
            damaged.append((path, str(exc)))
    return sorted(found, key=lambda p: (p.created_at, p.id))


def runs_proposals(
    runs_dir: Path,
    session_id: str | None = None,
    *,
    damaged: list[tuple[Path, str]] | None = None,
) -> list[Proposal]:
    """Every proposal under `runs_dir` (or of one session), oldest first; with `damaged`,
    unreadable files are collected there and skipped (a listing must not hide the others)."""
    if session_id is not None:
        if re.fullmatch(ITEM_ID, session_id) is None:
            raise ItemNotFoundError(f"{session_id!r} is not a session id")
        session_dir = Path(runs_dir) / session_id
        if not session_dir.is_dir():
            raise ItemNotFoundError(f"no session {session_id} in {runs_dir}")
        paths = sorted((session_dir / PROPOSALS_DIR).glob("*.json"))
    else:
        paths = sorted(Path(runs_dir).glob(f"*/{PROPOSALS_DIR}/*.json"))
    return _read_oldest_first(paths, damaged)


def find_proposal(runs_dir: Path, proposal_id: str) -> Proposal:
    """The one proposal with this id in any session under `runs_dir`."""
    if not is_proposal_id(proposal_id):
        raise ItemNotFoundError(f"{proposal_id!r} is not a proposal id (p- and 12 hex digits)")
    paths = sorted(Path(runs_dir).glob(f"*/{PROPOSALS_DIR}/{proposal_id}.json"))
    if not paths:
        raise ItemNotFoundError(f"no proposal {proposal_id} in any session under {runs_dir}")
    if len(paths) > 1:
        sessions = ", ".join(p.parent.parent.name for p in paths)
        raise ProposalFileError(
            f"proposal {proposal_id} appears in several sessions ({sessions}): a copied "
            "file? Remove the copy; nothing was decided"
        )
    return read_proposal(paths[0])
