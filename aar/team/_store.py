"""A team's directory, `runs/teams/<id>/`: its record, its event log, its stop flag, its token.

Everything the team shows (`aar team status`, the team report) is rebuilt from these files and
the researchers' own session logs, so a lead process killed at any point loses nothing:
`aar team resume` reads the same files.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from aar.errors import AarError, validation_message
from aar.files import held_lock, write_atomic
from aar.jsonl import JsonlLog
from aar.team._models import TeamEvent, TeamRecord
from aar.team._worker import STOP_FILE

TEAMS = "teams"
_ID = re.compile(r"t-\d{8}-\d{6}-[0-9a-f]{6}")


class TeamNotFoundError(AarError):
    """No team of that id under the runs directory."""


class TeamBusyError(AarError):
    """Another lead process drives the team."""


class Team:
    """One team's files (reading needs no lock; events are appended under the log's lock)."""

    def __init__(self, root: Path, record: TeamRecord) -> None:
        self.root = root
        self.record = record
        self.log: JsonlLog[TeamEvent] = JsonlLog(root / "events.jsonl", "team-events", TeamEvent)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def token_file(self) -> Path:
        return self.root / "scorer.token"

    @property
    def report_path(self) -> Path:
        return self.root / "report.md"

    @classmethod
    def create(cls, runs_dir: Path, record: TeamRecord) -> Team:
        root = runs_dir / TEAMS / record.id
        root.mkdir(parents=True)
        write_atomic(root / "team.json", record.model_dump_json(indent=2) + "\n")
        return cls(root, record)

    @classmethod
    def open(cls, runs_dir: Path, team_id: str) -> Team:
        if not _ID.fullmatch(team_id):
            raise TeamNotFoundError(f"{team_id[:80]!r} is not a team id (t-YYYYMMDD-HHMMSS-xxxxxx)")
        root = runs_dir / TEAMS / team_id
        path = root / "team.json"
        if not path.is_file():
            raise TeamNotFoundError(f"no team {team_id} under {runs_dir / TEAMS}")
        try:
            record = TeamRecord.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise AarError(f"{path} is damaged: {validation_message(exc)}") from None
        except OSError as exc:
            raise AarError(f"cannot read {path}: {exc.strerror}") from None
        return cls(root, record)

    @contextlib.contextmanager
    def leading(self) -> Iterator[None]:
        """Be the team's one lead for the block: a second `aar team start/resume` of the same
        team is refused while one runs (the lock goes with the process, even on kill -9)."""
        busy = TeamBusyError(
            f"team {self.id} is driven by another lead process now; stop it with "
            f"`aar team stop {self.id}` or wait for it to end"
        )
        with held_lock(self.root / "lead.lock", 0.5, busy=busy, what=f"team {self.id}"):
            yield

    def emit(self, event: TeamEvent) -> None:
        self.log.append(event)

    def events(self) -> list[TeamEvent]:
        return self.log.read()

    def request_stop(self) -> None:
        """Every researcher's process sees the flag within a poll and stops resumably."""
        write_atomic(self.root / STOP_FILE, "stop requested\n")

    def clear_stop(self) -> None:
        (self.root / STOP_FILE).unlink(missing_ok=True)

    @property
    def stop_requested(self) -> bool:
        return (self.root / STOP_FILE).exists()


def team_ids(runs_dir: Path) -> list[str]:
    """Every team under the runs directory, oldest first."""
    base = runs_dir / TEAMS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if _ID.fullmatch(p.name))


def latest_team(runs_dir: Path) -> str:
    ids = team_ids(runs_dir)
    if not ids:
        raise TeamNotFoundError(f"no team under {runs_dir / TEAMS}; start one with: aar team start")
    return ids[-1]


def open_team(runs_dir: Path, team_id: str | None = None) -> Team:
    """A team by id, or the latest one."""
    return Team.open(runs_dir, latest_team(runs_dir) if team_id is None else team_id)
