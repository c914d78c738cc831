"""Keep a long round's requests within the model's context window: condense old tool outputs.

As OpenHands' observation-masking condenser does: when a request would carry more than
`settings.agent.history.max_tokens` input tokens, the bulkiest old content is replaced by a short
placeholder, oldest first, until it fits. What is condensed is what the researcher can get
again and rarely needs verbatim: the output of `run_cell` and `search_memory` and the code of
old `run_cell` calls (the notebook and `cells.py` keep it all). Everything that carries what the
researcher builds on stays whole: the task list with the baselines' record ids, hypotheses,
evaluations with their record ids, findings and proposals, and the last `keep_turns` requests
with their replies.

Only what is sent is condensed: the agent's own history (and `messages.json`, which a resumed
round reloads) keeps every output, so condensing is recomputed, identically, before each
request. A placeholder keeps the head of the output (a cell's status and first lines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
)

from aar.config import HistorySettings

CONDENSED_OUTPUTS = frozenset({"run_cell", "search_memory"})
CONDENSED_CALLS = frozenset({"run_cell"})
HEAD_CHARS = 200
"""How much of a condensed output its placeholder keeps."""


def condense_history(
    messages: list[ModelMessage],
    settings: HistorySettings,
    count: Callable[[list[ModelMessage]], int],
) -> list[ModelMessage]:
    """`messages`, or a copy with old bulky contents condensed, oldest first, until `count` of it
    is within `settings.max_tokens` (or nothing more may be condensed). `messages` is unchanged."""
    if count(messages) <= settings.max_tokens:
        return messages
    out = list(messages)
    for index in _old_message_indexes(out, settings.keep_turns):
        out[index] = _condensed(out[index], settings.max_tokens)
        if count(out) <= settings.max_tokens:
            break
    return out


def _old_message_indexes(messages: list[ModelMessage], keep_turns: int) -> list[int]:
    """Indexes of the messages before the last `keep_turns` requests (each with its reply)."""
    requests = [i for i, m in enumerate(messages) if isinstance(m, ModelRequest)]
    if len(requests) <= keep_turns:
        return []
    first_kept = requests[-keep_turns] if keep_turns else len(messages)
    return list(range(first_kept))


def _condensed(message: ModelMessage, limit: int) -> ModelMessage:
    """`message` with its condensable parts replaced by placeholders (a new object)."""
    if isinstance(message, ModelRequest):
        parts = [
            replace(p, content=_placeholder(p.model_response_str(), p.tool_name, limit))
            if isinstance(p, ToolReturnPart) and p.tool_name in CONDENSED_OUTPUTS
            else p
            for p in message.parts
        ]
        return replace(message, parts=parts)
    if isinstance(message, ModelResponse):
        calls = [
            _condensed_call(p)
            if isinstance(p, ToolCallPart) and p.tool_name in CONDENSED_CALLS
            else p
            for p in message.parts
        ]
        return replace(message, parts=calls)
    return message


def _placeholder(text: str, tool: str, limit: int) -> str:
    if text.startswith("[condensed") or len(text) <= HEAD_CHARS:
        return text
    return (
        f"[condensed: this {tool} output ({len(text)} characters) was cut to its first "
        f"{HEAD_CHARS} to keep the conversation within {limit} tokens] {text[:HEAD_CHARS]}"
    )


def _condensed_call(call: ToolCallPart) -> ToolCallPart:
    """A `run_cell` call with only the head of its code (malformed arguments stay as they are)."""
    try:
        args = dict(call.args_as_dict())  # a copy: the dict may be the call's own
    except ValueError:
        return call
    code = args.get("code")
    if not isinstance(code, str) or len(code) <= HEAD_CHARS or code.startswith("# [condensed"):
        return call
    args["code"] = (
        f"# [condensed: {len(code)} characters of code; the experiment's cells.py keeps it]\n"
        + code[:HEAD_CHARS]
    )
    return replace(call, args=args)
