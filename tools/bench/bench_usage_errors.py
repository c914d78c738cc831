"""Time usage errors end to end: process start to the printed error line.

Target: every usage error within 1 s, and `aar --help` well under a second. Each command runs
in a fresh process (the console script), `--reps` times; the table gives the median and the
maximum. The malformed-input battery (tests/malformed) checks the same errors for content and
that no heavy module is imported before them; this script only times them.

    .venv/bin/python tools/bench/bench_usage_errors.py [--reps 7]
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


def commands(work: Path) -> dict[str, list[str]]:
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = commands(work)
        (work / "cfg").mkdir()
        (work / "cfg" / "aar.toml").write_text("[bench]\nseedz = [1]\n")
        print(f"| command | median s | max s | exit | (load average {os.getloadavg()[0]:.2f}) |")
        print("|---|---|---|---|---|")
        for name, argv in table.items():
            cwd = work / "cfg" if name == "aar.toml typo" else work
            times, code = [], None
            for _ in range(args.reps):
                start = time.perf_counter()
                proc = subprocess.run([AAR, *argv], capture_output=True, cwd=cwd, timeout=120)
                times.append(time.perf_counter() - start)
                code = proc.returncode
            print(f"| `{name}` | {statistics.median(times):.2f} | {max(times):.2f} | {code} | |")


if __name__ == "__main__":
    main()
