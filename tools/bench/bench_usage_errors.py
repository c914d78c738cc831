"""Time usage errors end to end: process start to the printed error line.

Target: every usage error within 1 s, and `aar --help` well under a second. Each command runs
in a fresh process (the console script), `--reps` times; the table gives the median and the
maximum. The malformed-input battery (tests/malformed) checks the same errors for content and
that no heavy module is imported before them; this script only times them.

    .venv/bin/python tools/bench/bench_usage_errors.py [--reps 7] [--only TEXT]
    .venv/bin/python tools/bench/bench_usage_errors.py --pythonpath OTHER_CHECKOUT  # a baseline

`--pythonpath` runs `python -m aar` from another checkout (e.g. a `git worktree` of an older
commit), so a before/after pair is timed on the same machine under the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AAR = str(Path(sys.executable).with_name("aar"))


Command = tuple[list[str], dict[str, str]]


def commands(work: Path) -> dict[str, Command]:
    """name -> (argv, extra environment)."""
    table = {name: (argv, {}) for name, argv in _plain(work).items()}
    ev = ["bench", "evaluate", "-t", "digits-ge5"]
    (work / "upper.csv").write_text("ID,Prob\n1,0.5\n")
    (work / "short.csv").write_text("id,prob\n1,0.5\n")
    (work / "long.py").write_text("print(1)\n")
    price = {"OPENAI_API_KEY": "sk-not-a-key"}
    table |= {  # issue 18's slow refusals (> 1 s before its fix)
        "bench run --device cuda:99": (["bench", "run", "--device", "cuda:99"], {}),
        "run --budget-usd, unpriced model": (
            ["run", "--model", "openai:no-such-model-x", "--budget-usd", "1"],
            price,
        ),
        "bench run, cache_dir in /proc": (
            ["bench", "run", "-t", "digits-ge5"],
            {"AAR_BENCH__CACHE_DIR": "/proc/aar-bench"},
        ),
        "bench run, key_file in /proc": (
            ["bench", "run", "-t", "digits-ge5"],
            {"AAR_BENCH__KEY_FILE": "/proc/aar-bench/key"},
        ),
        "sandbox exec --timeout 1e9": (
            ["sandbox", "exec", str(work / "long.py"), "--timeout", "1e9"],
            {},
        ),
        "bench evaluate, header ID,Prob": ([*ev, str(work / "upper.csv")], {}),
        "bench evaluate, 1 of 269 ids": ([*ev, str(work / "short.csv")], {}),
    }  # fmt: skip
    return table


def _plain(work: Path) -> dict[str, list[str]]:
    (work / "full").mkdir()
    (work / "full" / "keep").write_text("keep")
    (work / "p.json").write_text('{"ids": [1], "probs": null}')
    (work / "p.npy").write_bytes(b"")
    (work / "x.txt").write_text("not a log\n")
    (work / "empty.py").write_text("# %%\n")
    ev = ["bench", "evaluate", "-t", "digits-ge5"]
    empty = str(work / "empty.py")
    return {
        "aar --help": ["--help"],
        "bench run --task nosuch": ["bench", "run", "--task", "nosuch"],
        "bench run -m magic": ["bench", "run", "-m", "magic"],
        "bench run --device bogus": ["bench", "run", "--device", "bogus"],
        "bench run --out non-empty": ["bench", "run", "--out", str(work / "full")],
        "bench list --device bogus": ["bench", "list", "--device", "bogus"],
        "bench evaluate, probs null": [*ev, str(work / "p.json")],
        "bench evaluate, empty .npy": [*ev, str(work / "p.npy")],
        "bench evaluate --seed 99999999999999999999": [*ev, "-s", "9" * 20, str(work / "p.json")],
        "bench evaluate --log foreign": [*ev, str(work / "p.json"), "--log", str(work / "x.txt")],
        "bench export-public --task nosuch": ["bench", "export-public", "-t", "x", str(work / "e")],
        "sandbox exec empty.py": ["sandbox", "exec", empty],
        "sandbox exec --timeout nan": ["sandbox", "exec", empty, "--timeout", "nan"],
        "aar.toml typo": ["bench", "run"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", default="", help="Only commands whose name contains this.")
    parser.add_argument("--pythonpath", default=None, help="Time `python -m aar` from here.")
    args = parser.parse_args()
    aar = [AAR] if args.pythonpath is None else [sys.executable, "-m", "aar"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AAR_")}
    if args.pythonpath is not None:
        base_env["PYTHONPATH"] = str(Path(args.pythonpath).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = commands(work)
        (work / "cfg").mkdir()
        (work / "cfg" / "aar.toml").write_text("[bench]\nseedz = [1]\n")
        base_env |= {"AAR_RUNS_DIR": str(work / "runs"), "AAR_MEMORY_PATH": str(work / "mem")}
        base_env.setdefault("AAR_BENCH__KEY_FILE", str(work / "key"))
        print(f"| command | median s | max s | exit | (load average {os.getloadavg()[0]:.2f}) |")
        print("|---|---|---|---|---|")
        for name, (argv, extra) in table.items():
            if args.only not in name:
                continue
            cwd = work / "cfg" if name == "aar.toml typo" else work
            times, code = [], None
            for _ in range(args.reps):
                start = time.perf_counter()
                proc = subprocess.run(
                    [*aar, *argv],
                    capture_output=True,
                    cwd=cwd,
                    timeout=120,
                    env={**base_env, **extra},
                )
                times.append(time.perf_counter() - start)
                code = proc.returncode
            print(f"| `{name}` | {statistics.median(times):.2f} | {max(times):.2f} | {code} | |")


if __name__ == "__main__":
    main()
