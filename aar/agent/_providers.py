"""LLM providers: a spec (`openai:NAME`, `anthropic:NAME`, `ollama:NAME`, `vllm:NAME`) -> a
pydantic-ai model, and its price.

`openai:NAME` speaks Chat Completions (`OpenAIChatModel`), the API that OpenAI-compatible servers
(vLLM, llama.cpp, Ollama) speak too, so `--base-url` reaches them with the same code;
`ollama:NAME` and `vllm:NAME` are `openai:NAME` at those servers' usual local URLs.
`anthropic:NAME` speaks the Messages API. `scripted` (the offline researcher) is not built here.

Keys come from the environment only (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`); the SDKs' own
`OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` are honoured when no base URL is passed. Nothing this
module raises, logs or returns shows a key: errors name the variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aar.errors import AarError
from aar.net import is_loopback

if TYPE_CHECKING:
    from pydantic_ai.models import Model

Provider = Literal["openai", "anthropic"]
PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic")
SCRIPTED = "scripted"
LOCAL_SERVERS = {"ollama": "http://127.0.0.1:11434/v1", "vllm": "http://127.0.0.1:8000/v1"}
"""`ollama:NAME` and `vllm:NAME`: `openai:NAME` (Chat Completions, which both serve) at the
server's usual local URL, which `--base-url` overrides. No key is sent to them, not even
`OPENAI_API_KEY` (a key for OpenAI is not one for a local server; a server that wants a key
is reached as `openai:NAME --base-url URL`)."""
MODEL_CHOICES = "scripted, openai:NAME, anthropic:NAME, ollama:NAME or vllm:NAME"
"""What `--model` accepts, for error messages."""

KEY_VARS: dict[Provider, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_VARS: dict[Provider, str] = {
    "openai": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
}
OFFICIAL_URLS: dict[Provider, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
NO_KEY_PLACEHOLDER = "aar-no-key"
"""Sent to a custom server when no key is set: the SDKs insist on one, local servers ignore it."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")


class ProviderError(AarError):
    """A model spec, base URL or key that aar cannot use."""


class MissingKeyError(ProviderError):
    """The provider's key variable is not set."""


class ModelSpec(BaseModel):
    """A parsed `provider:name`."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    name: str
    server: str | None = None
    """`ollama` or `vllm` for those aliases of `openai` (`LOCAL_SERVERS`), else None."""

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        """`'openai:gpt-4o'` -> `ModelSpec('openai', 'gpt-4o')`, or one clear line."""
        if spec.strip() == SCRIPTED:
            raise ProviderError(
                "'scripted' is the offline researcher, not a provider model: "
                "the session builds it (aar.agent), build_model only builds LLM providers"
            )
        provider, sep, name = spec.partition(":")
        server = provider if provider in LOCAL_SERVERS else None
        if server is not None:
            provider = "openai"
        if not sep or provider not in PROVIDERS:
            raise ProviderError(f"unknown model {_shown(spec)}: use {MODEL_CHOICES}")
        if not _NAME.fullmatch(name):
            raise ProviderError(
                f"model name {_shown(name)} after '{server or provider}:' is empty or has "
                "characters a model name cannot have (letters, digits and ._:/@+- only)"
            )
        return cls(provider=provider, name=name, server=server)

    def __str__(self) -> str:
        return f"{self.server or self.provider}:{self.name}"

    def default_url(self, base_url: str | None) -> str | None:
        """`base_url` when given, else a local server alias's usual URL (else None: the
        provider's variable or its own URL decide)."""
        if base_url is None and self.server is not None:
            return LOCAL_SERVERS[self.server]
        return base_url


def build_model(
    spec: str,
    *,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    max_retries: int | None = None,
) -> Model:
    """The pydantic-ai model for `spec`, talking to `base_url` (or the env var, or the provider).

    A custom base URL is an OpenAI-compatible (or Anthropic-compatible) server: its key is
    optional, and for `openai:` the `max_tokens` setting is sent as `max_tokens`, which such
    servers honour (OpenAI's own `max_completion_tokens` they ignore). `max_retries` replaces
    the SDK's own retries (2 by default); a session sets 0 and retries itself (`RetryingModel`).

    Raises:
        ProviderError: an unknown spec, `scripted`, a base URL that is not http(s), or a key that
            would travel in clear text to another machine.
        MissingKeyError: the provider's own endpoint and no key variable.
    """
    parsed = ModelSpec.parse(spec)
    env = os.environ if env is None else env
    url = _resolve_base_url(parsed.provider, parsed.default_url(base_url), env)
    key = NO_KEY_PLACEHOLDER if parsed.server else _resolve_key(parsed, url, env)
    if parsed.provider == "openai":
        return _openai_chat_model(parsed.name, url, key, max_retries)
    return _anthropic_model(parsed.name, url, key, max_retries)


ENDPOINT_TIMEOUT_S = 5.0
"""How long `check_endpoint` waits for the model server to accept a connection."""


class EndpointUnreachableError(AarError):
    """Nothing answers at the model's URL: the round could not be driven, so none starts."""

    exit_code = 2


def endpoint_url(
    spec: str, *, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The URL the model of `spec` will talk to (checked as `build_model` checks it)."""
    parsed = ModelSpec.parse(spec)
    env = os.environ if env is None else env
    return _resolve_base_url(parsed.provider, parsed.default_url(base_url), env)


def check_endpoint(
    spec: str, *, base_url: str | None = None, timeout: float = ENDPOINT_TIMEOUT_S
) -> str:
    """Connect to the model's server before any baseline runs, so a wrong `--base-url` or a
    server that is down is one line naming the URL, not a round that starts, spends minutes on
    baselines, and ends in "the model failed". Only a TCP connection is made (no request, no
    key sent): whether the server speaks the API is the first request's business."""
    import socket

    url = endpoint_url(spec, base_url=base_url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise EndpointUnreachableError(
            f"cannot reach the model at {url} ({why}); check --base-url or that the "
            "server is running"
        ) from None
    return url


def _openai_chat_model(name: str, url: str, key: str, max_retries: int | None) -> Model:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.profiles.openai import OpenAIModelProfile
    from pydantic_ai.providers.openai import OpenAIProvider

    custom = (
        None
        if _is_official(url)
        else OpenAIModelProfile(openai_chat_supports_max_completion_tokens=False)
    )
    provider = OpenAIProvider(base_url=url, api_key=key)
    if max_retries is not None:
        provider = OpenAIProvider(
            openai_client=provider.client.with_options(max_retries=max_retries)
        )
    return OpenAIChatModel(name, provider=provider, profile=custom)


def _anthropic_model(name: str, url: str, key: str, max_retries: int | None) -> Model:
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    provider = AnthropicProvider(base_url=url, api_key=key)
    if max_retries is not None:
        client = provider.client.with_options(max_retries=max_retries)
        provider = AnthropicProvider(anthropic_client=client)
    return AnthropicModel(name, provider=provider)


def _resolve_base_url(provider: Provider, base_url: str | None, env: Mapping[str, str]) -> str:
    """`base_url`, else the SDK's env var, else the provider's own URL; checked."""
    source = "--base-url"
    if base_url is None and env.get(BASE_URL_VARS[provider]):
        base_url, source = env[BASE_URL_VARS[provider]], BASE_URL_VARS[provider]
    if base_url is None:
        return OFFICIAL_URLS[provider]
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"{source} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ProviderError(
            f"{source} must not carry credentials (user:password@); use the key vars"
        )
    return base_url.strip().rstrip("/")


def _resolve_key(spec: ModelSpec, url: str, env: Mapping[str, str]) -> str:
    """The key from the environment; a placeholder for a custom server that needs none."""
    var = KEY_VARS[spec.provider]
    key = (env.get(var) or "").strip()
    if key and not _KEY_CHARS.fullmatch(key):
        raise ProviderError(
            f"{var} has characters an API key cannot have (spaces, control or non-ASCII)"
        )
    parts = urlsplit(url)
    if key and parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ProviderError(
            f"refusing to send {var} in clear text to {parts.scheme}://{parts.netloc}: "
            f"use https, or unset {var} if that server needs no key"
        )
    if not key and _is_official(url):
        raise MissingKeyError(f"set {var} to use {spec} (keys come from the environment only)")
    return key or NO_KEY_PLACEHOLDER


def _is_official(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {urlsplit(u).hostname for u in OFFICIAL_URLS.values()}


def _shown(text: str) -> str:
    """A user-supplied string for an error line: quoted, shortened, control characters escaped."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


# --- error lines ------------------------------------------------------------------------------

_MASKED_KEY = re.compile(r"[\w-]*\*{4,}[\w-]*")
"""A key as providers echo it in a 401 ("sk-proj-abcd****...wxyz"): still part of a key."""
_MAX_LINE = 300


def redact_secrets(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` without the provider keys set in `env` or the masked keys providers echo back."""
    env = os.environ if env is None else env
    for var in KEY_VARS.values():
        key = (env.get(var) or "").strip()
        if len(key) >= 8:
            text = text.replace(key, "[redacted]")
    return _MASKED_KEY.sub("[redacted]", text)


def provider_error_line(exc: BaseException, env: Mapping[str, str] | None = None) -> str:
    """One short, redacted line for an error a model run raised (for the event log and report).

    `ModelHTTPError` -> "gpt-4o: the provider answered HTTP 500: <its message>";
    `ModelAPIError` (timeouts, refused connections) -> "gpt-4o: <what failed>"; anything else
    (`UnexpectedModelBehavior`, `UsageLimitExceeded`, ...) -> its own message.
    """
    from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError

    if isinstance(exc, ModelHTTPError):
        said = _body_message(exc.body)
        line = f"{exc.model_name}: the provider answered HTTP {exc.status_code}: {said}"
    elif isinstance(exc, ModelAPIError):
        line = f"{exc.model_name}: {exc.message}"
    else:
        line = f"{type(exc).__name__}: {exc}"
    line = " ".join(redact_secrets(line, env).split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _body_message(body: object) -> str:
    """The human part of an error body: OpenAI's `{message}`, Anthropic's `{error: {message}}`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
    return str(body)


# --- prices -------------------------------------------------------------------------------------


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    input_usd_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_usd_per_mtok: float = Field(ge=0, description="USD per million output tokens.")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1e6


class PriceTable(BaseModel):
    """Prices from config, keyed by model spec; they win over genai-prices.

    In `aar.toml`: `[agent.prices.models."openai:my-vllm-model"]` with `input_usd_per_mtok = 0`
    and `output_usd_per_mtok = 0` lets a USD budget run against a local server.
    """

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelPrice] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _keys_are_specs(cls, models: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        for spec in models:
            try:
                ModelSpec.parse(spec)
            except ProviderError as exc:
                raise ValueError(str(exc)) from None
        return models


def model_price(
    spec: str,
    table: PriceTable | None = None,
    *,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelPrice | None:
    """The price of `spec` reached at `base_url` (resolved as `build_model` resolves it): from
    `table` if it has one, else genai-prices; None when unpriced.

    genai-prices knows the providers' own endpoints only: `openai:llama3` on a local vLLM is not
    OpenAI's model, nor is a `gpt-4o` that a proxy or a local server answers to, so a model
    reached through any other base URL is priced by `table` alone (unpriced otherwise).
    genai-prices gives the base tier (requests below any long-context threshold), which is what
    `usd_cost` charges; cached-input discounts are ignored, so costs err high.
    """
    if table is not None and spec in table.models:
        return table.models[spec]
    parsed = ModelSpec.parse(spec)
    env = os.environ if env is None else env
    url = _resolve_base_url(parsed.provider, parsed.default_url(base_url), env)
    if not _is_official(url):
        return None
    return _genai_price(parsed.provider, parsed.name)


def usd_cost(
    spec: str,
    input_tokens: int,
    output_tokens: int,
    table: PriceTable | None = None,
    *,
    base_url: str | None = None,
) -> float | None:
    """USD for these token counts at `model_price(spec, table, base_url=...)`; None when the
    model is unpriced."""
    price = model_price(spec, table, base_url=base_url)
    return None if price is None else price.cost(input_tokens, output_tokens)


_PROBE_TOKENS = 1000
"""Small enough to sit in every model's base tier; rates are exact Decimals scaled back up."""


@lru_cache(maxsize=256)
def _genai_price(provider: Provider, name: str) -> ModelPrice | None:
    from genai_prices import Usage, calc_price

    probe = Usage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS)
    try:
        calc = calc_price(probe, name, provider_id=provider)
    except LookupError:
        return None
    scale = Decimal(1_000_000) / _PROBE_TOKENS
    return ModelPrice(
        input_usd_per_mtok=float(calc.input_price * scale),
        output_usd_per_mtok=float(calc.output_price * scale),
    )
