"""What the experiment and transcript pages read: a session's events, an experiment's notebook,
and a round's saved model messages, each parsed once per change of its file.

All of it is agent-written data. Nothing here renders HTML: the templates escape every string
and mark hidden characters (`visible`). Notebook outputs are reduced to plain text, PNG images
(checked by their signature, served by the app from the notebook) and errors; an output's HTML
or JavaScript is never shown as such. Files are opened without following links and read up to
a size limit, so a session directory cannot make the page read elsewhere or without bound.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aar.session import CellRun, Event, EventLog
from aar.web._cache import StampCache

MAX_FILE = 64 << 20
MAX_TEXT = 20_000
PNG = b"\x89PNG\r\n\x1a\n"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Unreadable(Exception):
    """A file the page cannot use (a link, too large, not the JSON it should be)."""


def read_limited(path: Path, limit: int = MAX_FILE) -> bytes:
    """The bytes of `path`, opened without following a link, at most `limit` of them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise Unreadable(f"{path.name}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise Unreadable(f"{path.name} is larger than {limit >> 20} MiB")
    return data


def clip(text: str, limit: int = MAX_TEXT) -> tuple[str, int]:
    """`text` cut to `limit` characters, and how many were cut (shown on the page)."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


@dataclass
class Output:
    """One cell output as the page shows it: `kind` is stream | text | image | error."""

    kind: str
    text: str = ""
    name: str = ""
    cut: int = 0
    image: int | None = None
    """For an image: its number among the cell's outputs (the URL of the served PNG)."""


@dataclass
class NotebookCell:
    source: str
    outputs: list[Output] = field(default_factory=list)
    status: str | None = None
    duration_s: float | None = None


@dataclass
class Notebook:
    """An experiment's notebook: its code cells, or why it cannot be shown."""

    cells: list[NotebookCell] = field(default_factory=list)
    problem: str | None = None
    raw: list[dict[str, Any]] = field(default_factory=list)


def load_notebook(path: Path) -> Notebook:
    if not path.exists() and not path.is_symlink():
        return Notebook(problem="the experiment has no notebook (yet)")
    try:
        doc = json.loads(read_limited(path))
        raw = [c for c in doc["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    except Unreadable as exc:
        return Notebook(problem=str(exc))
    except (ValueError, KeyError, TypeError):
        return Notebook(problem="the notebook is not a readable nbformat file")
    return Notebook([_cell(c) for c in raw], raw=raw)


def _cell(cell: dict[str, Any]) -> NotebookCell:
    meta = (cell.get("metadata") or {}).get("aar") or {}
    outputs = [_output(o, i) for i, o in enumerate(cell.get("outputs") or [])]
    duration = meta.get("duration_s")
    return NotebookCell(
        source=_joined(cell.get("source")),
        outputs=[o for o in outputs if o is not None],
        status=str(meta["status"]) if "status" in meta else None,
        duration_s=float(duration) if isinstance(duration, int | float) else None,
    )


def _joined(value: Any) -> str:
    """nbformat text: a string or a list of strings."""
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _output(out: Any, number: int) -> Output | None:
    if not isinstance(out, dict):
        return None
    kind = out.get("output_type")
    if kind == "stream":
        text, cut = clip(_ANSI.sub("", _joined(out.get("text"))))
        return Output("stream", text, str(out.get("name", "stdout")), cut)
    if kind == "error":
        trace = "\n".join(str(line) for line in out.get("traceback") or [])
        head = f"{out.get('ename', '')}: {out.get('evalue', '')}"
        text, cut = clip(_ANSI.sub("", trace or head))
        return Output("error", text, head, cut)
    data = out.get("data") if isinstance(out.get("data"), dict) else {}
    if isinstance(data, dict) and "image/png" in data and png_of(out) is not None:
        return Output("image", image=number)
    if isinstance(data, dict) and "text/plain" in data:
        text, cut = clip(_joined(data["text/plain"]))
        return Output("text", text, cut=cut)
    return None


def png_of(out: dict[str, Any]) -> bytes | None:
    """The PNG bytes of a display output (None unless they decode and look like a PNG)."""
    data = out.get("data")
    if not isinstance(data, dict):
        return None
    try:
        raw = base64.b64decode(_joined(data.get("image/png")), validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(PNG) else None


# -- a round's model messages ------------------------------------------------------------
@dataclass
class Said:
    """What one model response held besides its tool calls: text and thinking."""

    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)


def load_messages(path: Path) -> tuple[list[Said] | None, str | None]:
    """The researcher's text per model response of a round (`rounds/N/messages.json`, the
    history the agent saves), or why there is none."""
    if not path.exists():
        return None, None
    try:
        doc = json.loads(read_limited(path))
    except Unreadable as exc:
        return None, str(exc)
    except ValueError:
        return None, "the round's saved messages are not JSON"
    if not isinstance(doc, list):
        return None, "the round's saved messages are not a list"
    said = []
    for message in doc:
        if not isinstance(message, dict) or message.get("kind") != "response":
            continue
        parts = [p for p in message.get("parts") or [] if isinstance(p, dict)]
        text = [_joined(p.get("content")) for p in parts if p.get("part_kind") == "text"]
        thinking = [_joined(p.get("content")) for p in parts if p.get("part_kind") == "thinking"]
        said.append(Said([t for t in text if t.strip()], [t for t in thinking if t.strip()]))
    return said, None


# -- caches ------------------------------------------------------------------------------
class Reader:
    """Events, notebooks and messages of the runs directory, cached by their files' stamps."""

    def __init__(self) -> None:
        self._events = StampCache[list[Event]]()
        self._notebooks = StampCache[Notebook]()
        self._messages = StampCache[tuple[list[Said] | None, str | None]]()

    def events(self, root: Path) -> list[Event]:
        path = root / "events.jsonl"
        return self._events.get(path, [path], lambda: EventLog(root).read())

    def cells(self, root: Path, experiment: str) -> list[CellRun]:
        """The logged cells of an experiment, by number (a cell logged twice: the last)."""
        by_index: dict[int, CellRun] = {}
        for event in self.events(root):
            data = event.data
            if isinstance(data, CellRun) and data.experiment == experiment:
                by_index[data.index] = data
        return [by_index[i] for i in sorted(by_index)]

    def notebook(self, path: Path) -> Notebook:
        return self._notebooks.get(path, [path], lambda: load_notebook(path))

    def messages(self, path: Path) -> tuple[list[Said] | None, str | None]:
        return self._messages.get(path, [path], lambda: load_messages(path))
