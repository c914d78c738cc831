"""The research agent: LLM providers, offline token counts, tools and the scripted researcher."""

from aar.agent._providers import (
    MODEL_CHOICES,
    PROVIDERS,
    SCRIPTED,
    MissingKeyError,
    ModelPrice,
    ModelSpec,
    PriceTable,
    ProviderError,
    build_model,
    model_price,
    provider_error_line,
    redact_secrets,
    usd_cost,
)
from aar.agent._tokens import (
    TokenizerError,
    count_message_tokens,
    count_tokens,
    encoding_name,
    ensure_offline_encodings,
)

__all__ = [
    "MODEL_CHOICES",
    "PROVIDERS",
    "SCRIPTED",
    "MissingKeyError",
    "ModelPrice",
    "ModelSpec",
    "PriceTable",
    "ProviderError",
    "TokenizerError",
    "build_model",
    "count_message_tokens",
    "count_tokens",
    "encoding_name",
    "ensure_offline_encodings",
    "model_price",
    "provider_error_line",
    "redact_secrets",
    "usd_cost",
]
