"""Token counting cost per agent step: `count_message_tokens` on a growing session history.

Run: `.venv/bin/python tools/bench/bench_tokens.py [--steps 60] [--model gpt-4o]`

The history looks like a research session's: a ~4 kB system prompt, then per step a model
response (a sentence and a `run_cell` call with ~1.5 kB of code) and a tool result (~3 kB of
cell output), with 8 tool definitions sent on every request. Each step counts the whole
history before the next request, as the session's budget check does. Prints the one-time
encoding load, the first (cold) count of a long history, and the per-step cost p50 / p95 / max
against the agent's per-step overhead target (50 ms). Exits 1 if p95 misses it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.tools import ToolDefinition

from aar.agent import count_message_tokens, count_tokens, ensure_offline_encodings

TARGET_MS = 50.0
WORDS = [
    "weak",
    "strong",
    "student",
    "label",
    "loss",
    "seed",
    "task",
    "pgr",
    "confidence",
    "logit",
    "train",
    "eval",
]


def prose(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < chars:
        out.append(rng.choice(WORDS) + ("." if rng.random() < 0.1 else ""))
    return " ".join(out)


def code(rng: random.Random, chars: int) -> str:
    lines = []
    while sum(map(len, lines)) < chars:
        n = rng.randrange(1000)
        lines.append(f"model_{n} = fit(task['x_{n}'], weak_labels, lr={rng.random():.4f})")
    return "\n".join(lines)


def step(rng: random.Random, i: int) -> list:
    call = ToolCallPart("run_cell", {"code": code(rng, 1500)}, tool_call_id=f"c{i}")
    output = "\n".join(f"seed {s}: acc {rng.random():.4f}" for s in range(150))
    return [
        ModelResponse(parts=[TextPart(prose(rng, 200)), call]),
        ModelRequest(parts=[ToolReturnPart("run_cell", output, tool_call_id=f"c{i}")]),
    ]


def tools() -> list[ToolDefinition]:
    schema = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}
    return [
        ToolDefinition(
            name=f"tool_{i}", description="Does one thing. " * 8, parameters_json_schema=schema
        )
        for i in range(8)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--model", default="gpt-4o")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    rng = random.Random(0)
    t = time.perf_counter()
    ensure_offline_encodings()
    count_tokens("warm up", args.model)
    load_s = time.perf_counter() - t

    history = [ModelRequest(parts=[SystemPromptPart(prose(rng, 4000)), UserPromptPart("Begin.")])]
    defs = tools()
    per_step_ms = []
    for i in range(args.steps):
        history += step(rng, i)
        t = time.perf_counter()
        tokens = count_message_tokens(history, args.model, tools=defs)
        per_step_ms.append((time.perf_counter() - t) * 1000)

    other = random.Random(1)
    fresh = [step(other, i) for i in range(args.steps)]
    cold_history = [history[0], *(m for pair in fresh for m in pair)]
    t = time.perf_counter()
    cold_tokens = count_message_tokens(cold_history, args.model, tools=defs)
    cold_ms = (time.perf_counter() - t) * 1000

    p95 = sorted(per_step_ms)[int(0.95 * (len(per_step_ms) - 1))]
    print(f"encoding load (once per process): {load_s:.2f} s")
    print(f"cold count of {len(cold_history)} messages ({cold_tokens} tokens): {cold_ms:.1f} ms")
    print(
        f"per step, history up to {len(history)} messages ({tokens} tokens): "
        f"p50 {statistics.median(per_step_ms):.2f} ms, p95 {p95:.2f} ms, "
        f"max {max(per_step_ms):.2f} ms (target: p95 <= {TARGET_MS:.0f} ms)"
    )
    print(f"load average at end: {os.getloadavg()}")
    return 0 if p95 <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
