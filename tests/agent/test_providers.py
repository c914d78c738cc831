"""Providers through the real SDKs and pydantic-ai model classes, against the fake servers.

Every failure case documents the exception pydantic-ai raises, which the session catches:
- HTTP 4xx/5xx (after the SDK's retries): `pydantic_ai.exceptions.ModelHTTPError`
  (`.status_code`, `.body`), a subclass of `ModelAPIError`;
- a timeout or refused connection: `ModelAPIError` (not `ModelHTTPError`);
- malformed tool-call JSON: not an exception at first. pydantic-ai sends the parse error back
  to the model as a retry prompt; if the model repeats it past the tool's retries,
  `UnexpectedModelBehavior` ("Tool 'x' exceeded max retries count of 1");
- a `UsageLimits` limit: `UsageLimitExceeded`.
All four are `pydantic_ai.exceptions.AgentRunError`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_llm import (
    FakeLLM,
    Hang,
    HttpError,
    MalformedToolCall,
    Reply,
    ToolCall,
    Usage,
)
from pydantic import BaseModel, ValidationError
from pydantic_ai import Agent, UsageLimits
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.models import override_allow_model_requests

from aar.agent import (
    MissingKeyError,
    ModelPrice,
    PriceTable,
    ProviderError,
    build_model,
    model_price,
    provider_error_line,
    redact_secrets,
    usd_cost,
)
from aar.errors import AarError

PLANTED = "sk-planted-3f9c1e0b7a2d4c6e8f10a1b2c3d4e5f6"


@dataclass(frozen=True)
class Flavour:
    spec: str
    key_var: str
    url_var: str
    auth_header: str

    def base_url(self, srv: FakeLLM) -> str:
        return srv.openai_base_url if self.spec.startswith("openai") else srv.anthropic_base_url

    def auth_value(self, key: str) -> str:
        return f"Bearer {key}" if self.auth_header == "authorization" else key


OPENAI = Flavour("openai:gpt-4o", "OPENAI_API_KEY", "OPENAI_BASE_URL", "authorization")
ANTHROPIC = Flavour(
    "anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "x-api-key"
)
FLAVOURS = [pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic")]


class Sum(BaseModel):
    answer: str
    total: int


def make_agent(flavour: Flavour, srv: FakeLLM, key: str = PLANTED) -> Agent[None, Sum]:
    model = build_model(flavour.spec, base_url=flavour.base_url(srv), env={flavour.key_var: key})
    agent = Agent(model, output_type=Sum, instructions="Add numbers with the tool.")

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return agent


@pytest.fixture
def allowed() -> Iterator[None]:
    with override_allow_model_requests(True):
        yield


def tool_then_output() -> list:
    return [
        ToolCall(name="add", args={"a": 2, "b": 3}, usage=Usage(input_tokens=120, output_tokens=7)),
        ToolCall(
            name="final_result",
            args={"answer": "five", "total": 5},
            usage=Usage(input_tokens=150, output_tokens=11),
        ),
    ]


def failing_run(
    flavour: Flavour, script: list, expected: type[Exception], **run_kwargs: Any
) -> tuple[Exception, FakeLLM]:
    """Run the agent against `script`; the `expected` exception it raised, and the server."""
    with FakeLLM(script) as srv, pytest.raises(expected) as caught:
        make_agent(flavour, srv).run_sync("2+3", **run_kwargs)
    return caught.value, srv


def tool_result_sent(flavour: Flavour, body: dict) -> str:
    """The tool result the second request carried back to the model."""
    last = body["messages"][-1]
    if flavour is OPENAI:
        assert last["role"] == "tool"
        return last["content"]
    (block,) = last["content"]
    assert block["type"] == "tool_result"
    return block["content"] if isinstance(block["content"], str) else block["content"][0]["text"]


# --- the loop ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tool_call_then_structured_output(flavour: Flavour, allowed: None) -> None:
    with FakeLLM(tool_then_output()) as srv:
        result = make_agent(flavour, srv).run_sync("What is 2 + 3?")
    assert result.output == Sum(answer="five", total=5)
    assert [r.api for r in srv.requests] == [flavour.spec.split(":")[0]] * 2
    first, second = (r.body for r in srv.requests)
    assert first["model"] == flavour.spec.split(":", 1)[1]
    assert first["stream"] is False
    assert "add" in json.dumps(first["tools"]) and "final_result" in json.dumps(first["tools"])
    assert tool_result_sent(flavour, second) == "5"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_server_usage_reaches_result_usage(flavour: Flavour, allowed: None) -> None:
    with FakeLLM(tool_then_output()) as srv:
        usage = make_agent(flavour, srv).run_sync("What is 2 + 3?").usage
    assert (usage.input_tokens, usage.output_tokens) == (270, 18)
    assert (usage.requests, usage.tool_calls) == (2, 1)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_usage_limits_are_enforced(flavour: Flavour, allowed: None) -> None:
    limits = UsageLimits(output_tokens_limit=10)
    error, srv = failing_run(flavour, tool_then_output(), UsageLimitExceeded, usage_limits=limits)
    assert "output_tokens_limit of 10" in str(error)
    assert len(srv.requests) == 2  # checked on the usage the server reported
    limits = UsageLimits(request_limit=1)
    error, srv = failing_run(flavour, tool_then_output(), UsageLimitExceeded, usage_limits=limits)
    assert "request_limit of 1" in str(error)
    assert len(srv.requests) == 1  # refused before the second request was sent


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_max_tokens_setting_reaches_a_compatible_server(flavour: Flavour, allowed: None) -> None:
    """OpenAI-compatible servers honour `max_tokens`, not `max_completion_tokens`."""
    with FakeLLM(tool_then_output()) as srv:
        make_agent(flavour, srv).run_sync("2+3", model_settings={"max_tokens": 77})
    body = srv.requests[0].body
    assert body["max_tokens"] == 77
    assert "max_completion_tokens" not in body


def test_the_official_openai_endpoint_keeps_max_completion_tokens() -> None:
    model = build_model("openai:gpt-4o", env={"OPENAI_API_KEY": PLANTED})
    assert model.base_url == "https://api.openai.com/v1/"
    assert model.profile.get("openai_chat_supports_max_completion_tokens", True) is True
    compatible = build_model("openai:llama3.1:8b", base_url="http://127.0.0.1:1/v1", env={})
    assert compatible.profile["openai_chat_supports_max_completion_tokens"] is False


# --- failures: the exceptions the session catches ------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_http_500_raises_model_http_error(flavour: Flavour, allowed: None) -> None:
    error, srv = failing_run(flavour, [HttpError(status=500, message="overloaded")], ModelHTTPError)
    assert isinstance(error, ModelHTTPError) and error.status_code == 500
    assert "overloaded" in str(error.body)
    assert len(srv.requests) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_retryable_500_is_retried_by_the_sdk(flavour: Flavour, allowed: None) -> None:
    with FakeLLM([HttpError(retry=True), *tool_then_output()]) as srv:
        result = make_agent(flavour, srv).run_sync("2+3")
    assert result.output.total == 5
    assert [r.headers["x-stainless-retry-count"] for r in srv.requests] == ["0", "1", "0"]
    assert result.usage.requests == 2  # the failed attempt is not a request in pydantic-ai's usage


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_malformed_tool_json_goes_back_to_the_model(flavour: Flavour, allowed: None) -> None:
    script = [MalformedToolCall(name="add", raw='{"a": 2, "b": '), *tool_then_output()]
    with FakeLLM(script) as srv:
        result = make_agent(flavour, srv).run_sync("2+3")
    assert result.output.total == 5
    retry_prompt = tool_result_sent(flavour, srv.requests[1].body)
    assert "Invalid JSON" in retry_prompt and "try again" in retry_prompt


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_repeated_malformed_tool_json_raises_unexpected_model_behavior(
    flavour: Flavour, allowed: None
) -> None:
    error, srv = failing_run(flavour, [MalformedToolCall(name="add")] * 2, UnexpectedModelBehavior)
    assert "Tool 'add' exceeded max retries" in str(error)
    assert len(srv.requests) == 2


@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_hanging_server_times_out_as_model_api_error(flavour: Flavour, allowed: None) -> None:
    """The SDKs retry a timeout twice, so a hang costs 3 x timeout plus their backoff."""
    settings = {"timeout": 0.2}
    error, srv = failing_run(
        flavour, [Hang(seconds=30)] * 3, ModelAPIError, model_settings=settings
    )
    assert not isinstance(error, ModelHTTPError)
    assert "timed out" in str(error)
    assert provider_error_line(error).startswith(f"{flavour.spec.split(':')[1]}: Request timed out")
    assert len(srv.requests) == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_provider_errors_become_one_redacted_line(flavour: Flavour, allowed: None) -> None:
    """A 401 echoes a masked key ("sk-...****...wxyz"); a hostile server might echo all of it."""
    said = f"Incorrect API key provided: sk-plan{'*' * 28}e5f6.\nAlso: {PLANTED}"
    error, _ = failing_run(flavour, [HttpError(status=401, message=said)], ModelHTTPError)
    line = provider_error_line(error, env={flavour.key_var: PLANTED})
    name = flavour.spec.split(":")[1]
    assert line == (
        f"{name}: the provider answered HTTP 401: Incorrect API key provided: [redacted]. "
        "Also: [redacted]"
    )
    limits = UsageLimits(request_limit=1)
    error, _ = failing_run(flavour, tool_then_output(), UsageLimitExceeded, usage_limits=limits)
    line = provider_error_line(error)
    assert line.startswith(
        "UsageLimitExceeded: The next request would exceed the request_limit of 1"
    )


def test_redaction_leaves_ordinary_text_alone() -> None:
    env = {"OPENAI_API_KEY": PLANTED, "ANTHROPIC_API_KEY": ""}
    assert (
        redact_secrets("PGR 0.42 on digits-ge5 (seed 42)", env)
        == "PGR 0.42 on digits-ge5 (seed 42)"
    )
    assert redact_secrets(f"key={PLANTED};", env) == "key=[redacted];"


def test_an_exhausted_script_is_a_400_not_a_hang(allowed: None) -> None:
    error, _ = failing_run(OPENAI, [], ModelHTTPError)
    assert "script exhausted" in str(error)


def test_a_callable_script_sees_each_request(allowed: None) -> None:
    def script(request) -> ToolCall | Reply:
        if request.index == 0:
            return ToolCall(name="add", args={"a": 40, "b": 2})
        result = tool_result_sent(OPENAI, request.body)
        return ToolCall(name="final_result", args={"answer": "sum", "total": int(result)})

    with FakeLLM(script) as srv:
        assert make_agent(OPENAI, srv).run_sync("40+2").output.total == 42


# --- base URLs and keys ------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_sdk_base_url_variable_is_honoured(flavour: Flavour, allowed: None) -> None:
    with FakeLLM([Reply(text="via env mapping")]) as srv:
        env = {flavour.key_var: PLANTED, flavour.url_var: flavour.base_url(srv)}
        agent = Agent(build_model(flavour.spec, env=env))
        assert agent.run_sync("hi").output == "via env mapping"
    assert len(srv.requests) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_process_environment_is_the_default(
    flavour: Flavour, allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLM([Reply(text="via os.environ")]) as srv:
        monkeypatch.setenv(flavour.key_var, PLANTED)
        monkeypatch.setenv(flavour.url_var, flavour.base_url(srv))
        assert Agent(build_model(flavour.spec)).run_sync("hi").output == "via os.environ"
    assert srv.requests[0].headers[flavour.auth_header] == flavour.auth_value(PLANTED)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_explicit_base_url_wins_over_the_variable(flavour: Flavour, allowed: None) -> None:
    with FakeLLM([Reply(text="explicit")]) as srv:
        env = {flavour.key_var: PLANTED, flavour.url_var: "http://127.0.0.1:9/v1"}
        model = build_model(flavour.spec, base_url=flavour.base_url(srv), env=env)
        assert Agent(model).run_sync("hi").output == "explicit"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_missing_key_is_one_line_naming_the_variable(flavour: Flavour) -> None:
    with pytest.raises(MissingKeyError) as caught:
        build_model(flavour.spec, env={})
    message = str(caught.value)
    assert isinstance(caught.value, AarError) and caught.value.exit_code == 2
    assert flavour.key_var in message and "\n" not in message
    with pytest.raises(MissingKeyError):
        build_model(flavour.spec, env={flavour.key_var: "   "})


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_local_server_needs_no_key(flavour: Flavour, allowed: None) -> None:
    with FakeLLM([Reply(text="no key needed")]) as srv:
        model = build_model(flavour.spec, base_url=flavour.base_url(srv), env={})
        assert Agent(model).run_sync("hi").output == "no key needed"
    assert srv.requests[0].headers[flavour.auth_header] == flavour.auth_value("aar-no-key")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gpt-4o", "anthropic:NAME, ollama:NAME or vllm:NAME"),
        ("google:gemini-2.0", "anthropic:NAME, ollama:NAME or vllm:NAME"),
        ("OpenAI:gpt-4o", "anthropic:NAME, ollama:NAME or vllm:NAME"),
        ("openai:", "empty or has characters"),
        ("openai:gpt 4o", "empty or has characters"),
        ("anthropic:claude\n", "empty or has characters"),
        ("scripted", "'scripted' is the offline researcher"),
    ],
)
def test_bad_specs_are_one_line(spec: str, expected: str) -> None:
    with pytest.raises(ProviderError) as caught:
        build_model(spec, env={"OPENAI_API_KEY": PLANTED, "ANTHROPIC_API_KEY": PLANTED})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("ftp://127.0.0.1/v1", "must be an http:// or https:// URL"),
        ("127.0.0.1:8000/v1", "must be an http:// or https:// URL"),
        ("http:///v1", "must be an http:// or https:// URL"),
        (f"http://user:{PLANTED}@127.0.0.1:8000/v1", "must not carry credentials"),
    ],
)
def test_bad_base_urls_are_one_line_without_secrets(base_url: str, expected: str) -> None:
    with pytest.raises(ProviderError, match=expected) as caught:
        build_model("openai:m", base_url=base_url, env={})
    assert PLANTED not in str(caught.value)


def test_a_key_never_goes_in_clear_text_to_another_machine() -> None:
    env = {"OPENAI_API_KEY": PLANTED}
    with pytest.raises(
        ProviderError, match="refusing to send OPENAI_API_KEY in clear text"
    ) as caught:
        build_model("openai:m", base_url="http://10.1.2.3:8000/v1", env=env)
    assert PLANTED not in str(caught.value)
    build_model("openai:m", base_url="https://10.1.2.3:8000/v1", env=env)  # TLS: allowed
    build_model("openai:m", base_url="http://localhost:8000/v1", env=env)  # loopback: allowed
    build_model("openai:m", base_url="http://10.1.2.3:8000/v1", env={})  # no key: placeholder
    with pytest.raises(ProviderError, match=r"in clear text to http://api\.openai\.com"):
        build_model("openai:gpt-4o", base_url="http://api.openai.com/v1", env=env)


@pytest.mark.parametrize("bad", [f"{PLANTED}\nX-Evil: 1", f"sk-ä{PLANTED}", f"sk {PLANTED}"])
def test_a_key_with_impossible_characters_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY has characters") as caught:
        build_model("openai:gpt-4o", env={"OPENAI_API_KEY": bad})
    assert PLANTED not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_planted_key_appears_only_in_the_auth_header(
    flavour: Flavour, allowed: None, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    """Requests (other headers, bodies), results, messages, reprs, errors and DEBUG logs."""
    caplog.set_level(logging.DEBUG)
    script = [*tool_then_output(), HttpError(status=401, message="bad key"), HttpError(status=500)]
    with FakeLLM(script) as srv:
        agent = make_agent(flavour, srv)
        result = agent.run_sync("What is 2 + 3?")
        errors = []
        for _ in range(2):
            with pytest.raises(ModelHTTPError) as caught:
                agent.run_sync("again")
            errors.append(caught.value)
    seen = [
        result.all_messages_json().decode(),
        repr(result),
        repr(agent.model),
        repr(agent),
        str(agent.model.__dict__),
        *(f"{e!s} {e!r} {e.body} {e.headers}" for e in errors),
        caplog.text,
        *capfd.readouterr(),
    ]
    for request in srv.requests:
        assert request.headers[flavour.auth_header] == flavour.auth_value(PLANTED)
        others = {k: v for k, v in request.headers.items() if k != flavour.auth_header}
        seen += [json.dumps(others), request.raw.decode()]
    assert len(srv.requests) == 4
    assert caplog.records, "DEBUG logging was captured"
    assert not [text for text in seen if PLANTED in text]


# --- prices ------------------------------------------------------------------------------------


def test_model_prices_come_from_genai_prices() -> None:
    from genai_prices import Usage as GenaiUsage
    from genai_prices import calc_price

    price = model_price("openai:gpt-4o")
    assert price is not None
    calc = calc_price(
        GenaiUsage(input_tokens=2000, output_tokens=500), "gpt-4o", provider_id="openai"
    )
    assert usd_cost("openai:gpt-4o", 2000, 500) == pytest.approx(float(calc.total_price))
    assert model_price("anthropic:claude-sonnet-4-5") is not None
    assert model_price("openai:fake") is None
    assert usd_cost("openai:fake", 10, 10) is None


def test_a_price_table_overrides_and_prices_local_models() -> None:
    table = PriceTable.model_validate(
        {
            "models": {
                "openai:llama3.1:8b": {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0},
                "openai:gpt-4o": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
            }
        }
    )
    assert usd_cost("openai:llama3.1:8b", 10**6, 10**6, table) == 0.0
    assert usd_cost("openai:gpt-4o", 10**6, 10**6, table) == pytest.approx(3.0)
    assert model_price("openai:gpt-4o", table) == ModelPrice(
        input_usd_per_mtok=1.0, output_usd_per_mtok=2.0
    )


@pytest.mark.parametrize(
    "models",
    [
        {"gpt-4o": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 1}},
        {"openai:gpt-4o": {"input_usd_per_mtok": -1, "output_usd_per_mtok": 1}},
        {"openai:gpt-4o": {"input_usd_per_mtok": "nan", "output_usd_per_mtok": 1}},
        {"openai:gpt-4o": {"input_usd_per_mtok": 1}},
        {"openai:gpt-4o": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "cached": 0}},
    ],
)
def test_a_bad_price_table_is_refused(models: dict) -> None:
    with pytest.raises(ValidationError):
        PriceTable.model_validate({"models": models})


# --- the fake server as a script ----------------------------------------------------------------


def test_fake_llm_runs_as_a_script(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text(json.dumps([{"kind": "reply", "text": "hello from the script"}]))
    fake = Path(__file__).resolve().parents[2] / "tools" / "fake_llm.py"
    proc = subprocess.Popen(
        [sys.executable, str(fake), "--script", str(script)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        model = build_model("openai:fake", base_url=url, env={})
        with override_allow_model_requests(True):
            assert Agent(model).run_sync("hi").output == "hello from the script"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fake_llm_refuses_a_bad_script_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text(json.dumps([{"kind": "dance"}]))
    fake = Path(__file__).resolve().parents[2] / "tools" / "fake_llm.py"
    proc = subprocess.run(
        [sys.executable, str(fake), "--script", str(script)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("fake_llm: ") and proc.stderr.count("\n") == 1
