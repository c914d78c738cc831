"""A model reached through a base URL other than its provider's own is not that provider's model:
genai-prices does not price it; only the user's price table does."""

from __future__ import annotations

from aar.agent import ModelPrice, PriceTable, model_price, usd_cost

LOCAL = "http://127.0.0.1:8000/v1"


def test_a_local_server_is_not_priced_as_openai() -> None:
    assert model_price("openai:gpt-4o") is not None  # OpenAI's own endpoint
    assert model_price("openai:gpt-4o", base_url="https://api.openai.com/v1") is not None
    assert model_price("openai:gpt-4o", base_url=LOCAL) is None
    assert usd_cost("openai:gpt-4o", 10**6, 10**6, base_url=LOCAL) is None
    assert model_price("anthropic:claude-sonnet-4-5", base_url="http://127.0.0.1:9") is None


def test_the_base_url_variable_counts_as_a_base_url() -> None:
    assert model_price("openai:gpt-4o", env={"OPENAI_BASE_URL": LOCAL}) is None
    assert model_price("openai:gpt-4o", env={}) is not None


def test_the_price_table_prices_a_local_model() -> None:
    free = ModelPrice(input_usd_per_mtok=0, output_usd_per_mtok=0)
    table = PriceTable(models={"openai:gpt-4o": free})
    assert model_price("openai:gpt-4o", table, base_url=LOCAL) == free
    assert usd_cost("openai:gpt-4o", 10**6, 10**6, table, base_url=LOCAL) == 0.0
