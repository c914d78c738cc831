"""Fake OpenAI and Anthropic servers: scripted turns over real HTTP, for tests and trying `aar run`.

The real SDKs (and pydantic-ai's real model classes) talk to a stdlib `ThreadingHTTPServer` on
127.0.0.1, so tests cover request building, auth headers, response parsing, retries and errors
exactly as with a provider, without a key or the network. One server answers both APIs:

- `POST /v1/chat/completions`  OpenAI Chat Completions (non-streaming)
- `POST /v1/messages`          Anthropic Messages (non-streaming; `?beta=true` too)

Each request takes the next *turn* of the script (or asks a callable for one) and is recorded
with its headers and body, so a test can assert what was sent (e.g. that a key appears only in
the auth header). Once a list script runs out, requests get HTTP 400 "script exhausted" (400
is never retried by the SDKs, so a test fails fast instead of waiting on retries).

It misbehaves the way real providers do when asked (`FakeLLM(...)` options, or the CLI flags):
- `throttle=N`: the first N requests get HTTP 429 with `Retry-After: retry_after` (seconds);
- `fail_503=N`: the next N get HTTP 503 (an overloaded server, no Retry-After);
- `max_context_tokens=T`: a request over T input tokens gets HTTP 400 "context length
  exceeded" (OpenAI's `context_length_exceeded`, Anthropic's "prompt is too long");
- `count_input=True`: the usage reports the input tokens the server counted in the request
  (`request_tokens`), not the turn's scripted number, as a provider's bill would.
None of them takes a script turn. Input tokens are counted with aar's offline tokenizer
(o200k_base): every text of the request plus 3 tokens a message, 3 a request, and each tool
definition as the JSON it was sent as.

    with FakeLLM([ToolCall(name="search", args={"q": "x"}), Reply(text="done")]) as srv:
        srv.openai_base_url      # "http://127.0.0.1:PORT/v1"
        srv.anthropic_base_url   # "http://127.0.0.1:PORT" (the Anthropic SDK adds /v1)
        srv.requests             # [RecordedRequest, ...]

By hand (a researcher trying the loop without a provider):

    python tools/fake_llm.py --port 8765 --script turns.json
    aar run --model openai:fake --base-url http://127.0.0.1:8765/v1

`turns.json` is a JSON list of turns, e.g.
`[{"kind": "tool_call", "name": "list_tasks", "args": {}}, {"kind": "reply", "text": "hi"}]`.

Long because it is one file that runs as a script with no install: two APIs, their error
bodies, and the failures a provider has (throttling, outages, a context window) in one place.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


class Usage(BaseModel):
    """Token counts the server reports for one response (`usage` in both APIs)."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = Field(default=10, ge=0)
    output_tokens: int = Field(default=5, ge=0)


class _Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usage: Usage = Field(default_factory=Usage)


class ToolCall(_Turn):
    """Call tool `name` with `args` (valid JSON arguments)."""

    kind: Literal["tool_call"] = "tool_call"
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Reply(_Turn):
    """Answer with plain text (a final answer for a text agent)."""

    kind: Literal["reply"] = "reply"
    text: str


class MalformedToolCall(_Turn):
    """Call tool `name` with arguments that are not valid JSON (`raw`, sent verbatim).

    OpenAI sends tool arguments as a string, so `raw` goes there. Anthropic's API sends an
    object; a string `input` is the closest a server can get to a broken one.
    """

    kind: Literal["malformed_tool_call"] = "malformed_tool_call"
    name: str
    raw: str = '{"code": "print(1)'


class HttpError(BaseModel):
    """Answer with HTTP `status` and an error body.

    `retry=False` sends `x-should-retry: false`, which both SDKs obey, so the error surfaces at
    once; `retry=True` lets the SDK retry (after 10 ms: `retry-after-ms`), taking the next turn.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["http_error"] = "http_error"
    status: int = Field(default=500, ge=400, le=599)
    message: str = "fake_llm: scripted server error"
    retry: bool = False


class Hang(BaseModel):
    """Wait `seconds` before answering (a client timeout fires first), then answer 504."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["hang"] = "hang"
    seconds: float = Field(gt=0, le=3600)


Turn = Annotated[
    ToolCall | Reply | MalformedToolCall | HttpError | Hang, Field(discriminator="kind")
]
TURNS: TypeAdapter[list[Turn]] = TypeAdapter(list[Turn])


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    index: int
    api: Literal["openai", "anthropic"]
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    raw: bytes
    body: Any
    """The JSON body, or None when it was not JSON."""
    at: float = 0.0
    """When it arrived (`time.monotonic()`)."""


Script = Sequence[Turn] | Callable[[RecordedRequest], Turn]


class FakeLLM:
    """A scripted OpenAI + Anthropic server on 127.0.0.1; a context manager."""

    def __init__(
        self,
        script: Script,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle: int = 0,
        retry_after: float = 1.0,
        fail_503: int = 0,
        max_context_tokens: int | None = None,
        count_input: bool = False,
    ) -> None:
        self._script = script if callable(script) else list(script)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._throttle, self._fail_503 = throttle, fail_503
        self.retry_after = retry_after
        self.max_context_tokens = max_context_tokens
        self.count_input = count_input
        self.requests: list[RecordedRequest] = []
        self.statuses: dict[int, int] = {}
        """The HTTP status each request (by index) was answered with."""
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hanging turns are released at once."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, api: str, path: str, headers: dict[str, str], raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            request = RecordedRequest(
                len(self.requests),
                api,  # type: ignore[arg-type]
                path,
                headers,
                raw,
                body,
                time.monotonic(),
            )
            self.requests.append(request)
        return request

    def _next_turn(self, request: RecordedRequest) -> Turn | None:
        if callable(self._script):
            return self._script(request)
        with self._lock:
            return self._script.pop(0) if self._script else None

    def answer(
        self, api: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict, dict[str, str]]:
        """(status, JSON body, extra headers) for one request; the handler calls it."""
        request = self._record(api, path, headers, raw)
        status, body, extra = self._answer(request)
        with self._lock:
            self.statuses[request.index] = status
        return status, body, extra

    def _answer(self, request: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        api = request.api
        refused = self._refusal(request)
        if refused is not None:
            return refused
        counted = request_tokens(request.body) if self._counts() else 0
        if self.max_context_tokens is not None and counted > self.max_context_tokens:
            return 400, _too_long_body(api, counted, self.max_context_tokens), {}
        turn = self._next_turn(request)
        model = request.body.get("model", "fake") if isinstance(request.body, dict) else "fake"
        if turn is None:
            message = f"fake_llm: script exhausted at request {request.index}"
            return 400, _error_body(api, message), _retry_headers(False)
        if isinstance(turn, Hang):
            self._closing.wait(turn.seconds)
            return 504, _error_body(api, "fake_llm: hung"), _retry_headers(False)
        if isinstance(turn, HttpError):
            return turn.status, _error_body(api, turn.message), _retry_headers(turn.retry)
        if self.count_input:
            turn = turn.model_copy(
                update={"usage": turn.usage.model_copy(update={"input_tokens": counted})}
            )
        call_id = next(self._ids)
        build = _openai_completion if api == "openai" else _anthropic_message
        return 200, build(turn, model, call_id), {}

    def _refusal(self, request: RecordedRequest) -> tuple[int, dict, dict[str, str]] | None:
        """A 429 while throttling, then a 503 while failing; None once both are used up."""
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                message = "fake_llm: rate limit reached for requests"
                return (
                    429,
                    _error_body(request.api, message),
                    {"retry-after": f"{self.retry_after:g}"},
                )
            if self._fail_503 > 0:
                self._fail_503 -= 1
                return 503, _error_body(request.api, "fake_llm: the server is overloaded"), {}
        return None

    def _counts(self) -> bool:
        return self.count_input or self.max_context_tokens is not None


def request_tokens(body: Any) -> int:
    """Input tokens of a Chat Completions or Messages request body, as this server counts them:
    every text it carries (system, messages, tool calls and results), 3 tokens a message and 3
    a request, and each tool definition as the JSON it was sent as."""
    from aar.agent import count_tokens

    if not isinstance(body, dict):
        return 0
    texts: list[str] = []
    system = body.get("system")
    messages = list(body.get("messages") or [])
    if system:
        messages.insert(0, {"role": "system", "content": system})
    for message in messages:
        texts.extend(_message_texts(message))
    texts.extend(json.dumps(tool.get("function", tool)) for tool in body.get("tools") or [])
    framing = 3 + 3 * len(messages)
    return framing + sum(count_tokens(text, "gpt-4o") for text in texts)


def _message_texts(message: dict) -> list[str]:
    """The texts of one message of either API (content strings or blocks, tool calls)."""
    out: list[str] = []
    content = message.get("content")
    blocks = [content] if isinstance(content, str) else list(content or [])
    for block in blocks:
        if isinstance(block, str):
            out.append(block)
        elif isinstance(block, dict):
            out.extend(_block_texts(block))
    for call in message.get("tool_calls") or []:
        out += [call["function"]["name"], call["function"]["arguments"]]
    return out


def _block_texts(block: dict) -> list[str]:
    if block.get("type") == "tool_use":
        return [block.get("name", ""), json.dumps(block.get("input"), separators=(",", ":"))]
    inner = block.get("content")
    if block.get("type") == "tool_result" and isinstance(inner, list):
        return [text for item in inner for text in _block_texts(item)]
    if isinstance(inner, str):
        return [inner]
    text = block.get("text")
    return [text] if isinstance(text, str) else []


def _too_long_body(api: str, counted: int, limit: int) -> dict:
    """The 400 a provider answers to a request over its context window, in its own words."""
    if api == "openai":
        message = (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {counted} tokens. Please reduce the length of the messages."
        )
        error = {"message": message, "type": "invalid_request_error", "param": "messages"}
        return {"error": {**error, "code": "context_length_exceeded"}}
    message = f"prompt is too long: {counted} tokens > {limit} maximum"
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def _error_body(api: str, message: str) -> dict:
    if api == "openai":
        return {"error": {"message": message, "type": "server_error", "code": None}}
    return {"type": "error", "error": {"type": "api_error", "message": message}}


def _openai_completion(turn: ToolCall | Reply | MalformedToolCall, model: str, n: int) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(turn, Reply):
        message["content"] = turn.text
        finish = "stop"
    else:
        arguments = json.dumps(turn.args) if isinstance(turn, ToolCall) else turn.raw
        function = {"name": turn.name, "arguments": arguments}
        message["tool_calls"] = [{"id": f"call_{n}", "type": "function", "function": function}]
        finish = "tool_calls"
    usage = turn.usage
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def _anthropic_message(turn: ToolCall | Reply | MalformedToolCall, model: str, n: int) -> dict:
    if isinstance(turn, Reply):
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
        stop = "end_turn"
    else:
        tool_input = turn.args if isinstance(turn, ToolCall) else turn.raw
        content = [{"type": "tool_use", "id": f"toolu_{n}", "name": turn.name, "input": tool_input}]
        stop = "tool_use"
    return {
        "id": f"msg_fake_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": turn.usage.input_tokens,
            "output_tokens": turn.usage.output_tokens,
        },
    }


def _retry_headers(retry: bool) -> dict[str, str]:
    """Scripted errors say whether the SDK may retry (`x-should-retry`), and to wait only 10 ms."""
    return {"x-should-retry": "true" if retry else "false", "retry-after-ms": "10"}


def _handler_class(server: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            api = {OPENAI_PATH: "openai", ANTHROPIC_PATH: "anthropic"}.get(path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if api is None:
                self._send(404, {"error": {"message": f"fake_llm: no route {path}"}})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, extra = server.answer(api, path, headers, raw)
            self._send(status, body, extra)

        def _send(self, status: int, body: dict, extra: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

        def log_message(self, format: str, *args: object) -> None:
            """Silent: tests read `FakeLLM.requests`, not stderr."""

    return Handler


def load_script(path: Path) -> list[Turn]:
    """Turns from a JSON file; a mistake is one line naming the file."""
    try:
        return TURNS.validate_json(path.read_bytes())
    except OSError as exc:
        raise SystemExit(f"fake_llm: cannot read {path}: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SystemExit(f"fake_llm: {path}: {where}: {first['msg']}") from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--script", type=Path, required=True, help="JSON list of turns")
    parser.add_argument("--throttle", type=int, default=0, help="429 the first N requests")
    parser.add_argument("--retry-after", type=float, default=1.0, help="429's Retry-After, s")
    parser.add_argument("--fail-503", type=int, default=0, help="then 503 the next N requests")
    parser.add_argument(
        "--max-context-tokens", type=int, default=None, help="400 a request over N tokens"
    )
    args = parser.parse_args(argv)
    options = {
        "throttle": args.throttle,
        "retry_after": args.retry_after,
        "fail_503": args.fail_503,
        "max_context_tokens": args.max_context_tokens,
    }
    with FakeLLM(load_script(args.script), port=args.port, **options) as srv:
        print(f"OpenAI base URL:    {srv.openai_base_url}", flush=True)
        print(f"Anthropic base URL: {srv.anthropic_base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"served {len(srv.requests)} requests", file=sys.stderr)


if __name__ == "__main__":
    main()
