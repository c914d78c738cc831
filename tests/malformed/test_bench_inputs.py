"""`aar bench evaluate | run | list | export-public` with malformed input: one line, no loss.

Prediction files cover each class: truncated and empty, not UTF-8, binary, wrong types
(strings, booleans, null, objects), non-finite numbers, shapes, ids (missing, duplicated,
extra, not integers, out of range) and ambiguous or misspelled CSV headers. Output paths
cover directories, missing parents, paths under a regular file, /proc and overwrites.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from malformed_support import (
    BAD_PATH_FILES,
    BAD_PATHS,
    Case,
    case_id,
    check,
    run_cli,
)

TASK, N = "digits-ge5", 269  # binary; 269 rows in the test split
LOOP = {"loop": "{ws}/loop2", "loop2": "{ws}/loop"}  # two links pointing at each other
TASK10 = "digits-10"


def _npy(arr: np.ndarray, **kw: bool) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A valid .npy header for float64 `shape` (the data is up to the caller)."""
    from numpy.lib import format as npy

    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


@lru_cache(maxsize=1)
def _split_ids() -> np.ndarray:
    """The real test ids of TASK, seed 42 (under the test run's own task key)."""
    from aar.bench import Evaluator

    return Evaluator(TASK, 42, device="cpu").ids("test")


HALF = np.full(N, 0.5)
VALID_NPY = _npy(HALF)


def _eval(pred: str, *extra: str) -> tuple[str, ...]:
    return ("bench", "evaluate", "--task", TASK, "--seed", "42", f"{{ws}}/{pred}", *extra)


def _npy_cases() -> list[Case]:
    nan, inf = HALF.copy(), HALF.copy()
    nan[7], inf[3] = np.nan, -np.inf
    cases = {
        "npy-empty": (b"", "empty or truncated"),
        "npy-truncated": (VALID_NPY[: len(VALID_NPY) // 2], "cannot read|truncated"),
        "npy-header-only": (VALID_NPY[:128], "cannot read|truncated"),
        "npy-header-promises-terabytes": (_npy_header((10**12,)) + b"\0" * 800, "truncated"),
        "npy-header-promises-more-rows": (_npy_header((N, 10**5)) + b"\0" * 8 * N, "truncated"),
        "npy-garbage": (b"\x00\xffnot numpy at all" * 10, "not a .npy file"),
        "npy-pickled-objects": (
            _npy(np.array([{"p": 0.5}] * N, dtype=object), allow_pickle=True),
            "python objects",
        ),
        "npy-strings": (_npy(np.array(["0.5"] * N)), "dtype"),
        "npy-bool": (_npy(HALF > 0), "dtype"),
        "npy-complex": (_npy(HALF.astype(complex)), "dtype"),
        "npy-structured": (_npy(np.zeros(N, dtype=[("p", "f8")])), "dtype"),
        "npy-scalar": (_npy(np.float64(0.5)), "shape"),
        "npy-short": (_npy(HALF[:-1]), "shape"),
        "npy-long": (_npy(np.full(N + 1, 0.5)), "shape"),
        "npy-3-columns": (_npy(np.full((N, 3), 1 / 3)), "shape"),
        "npy-3d": (_npy(np.full((N, 2, 1), 0.5)), "shape"),
        "npy-nan": (_npy(nan), "nan"),
        "npy-minus-inf": (_npy(inf), "infinite"),
        "npy-float16-inf": (_npy(np.full(N, np.inf, dtype=np.float16)), "infinite"),
        "npy-above-one": (_npy(HALF + 1), r"outside \[0, 1\]"),
        "npy-negative": (_npy(HALF - 1), r"outside \[0, 1\]"),
        "npy-huge": (_npy(np.full(N, 1e308)), r"outside \[0, 1\]"),
        "npy-rows-not-summing": (_npy(np.full((N, 2), 0.7)), "sum to 1"),
    }
    out = [Case(k, _eval("p.npy"), m, files={"p.npy": b}) for k, (b, m) in cases.items()]
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("arr_0.npy", VALID_NPY)
    out.append(Case("npy-is-npz", _eval("p.npy"), "npz", files={"p.npy": npz.getvalue()}))
    return out


def _csv_cases(ids: np.ndarray) -> list[Case]:
    rows = [f"{i},0.5" for i in ids]
    body = "\n".join(rows) + "\n"
    three = "".join(f"{i},0.2,0.3,0.5\n" for i in ids)
    cases = {
        "csv-header-typo": ("id,porb\n" + body, "header.*did you mean 'prob'"),
        "csv-header-p0-alone": ("id,p0\n" + body, "ambiguous"),
        "csv-header-upper-case": ("ID,Prob\n" + body, "case-sensitive.*'id,prob'"),
        "csv-header-missing": (body, "header"),
        "csv-header-only": ("id,prob\n", "expected 269 distinct ids, got 0"),
        "csv-empty": ("", "empty"),
        "csv-blank-lines": ("\n\n\n", "empty"),
        "csv-three-classes-on-binary": ("id,p0,p1,p2\n" + three, "shape"),
        "csv-extra-column": ("id,prob\n" + body.replace(",0.5\n", ",0.5,0.1\n", 1), "columns"),
        "csv-missing-column": ("id,prob\n" + str(ids[0]) + "\n" + body, "columns"),
        "csv-truncated-row": ("id,p0,p1\n" + body.replace(",0.5", ",0.5,0.5")[:-9], "columns"),
        "csv-word-prob": ("id,prob\n" + body.replace(",0.5", ",high", 1), "not a number"),
        "csv-underscore-number": ("id,prob\n" + body.replace(",0.5", ",0_5", 1), "not a number"),
        "csv-nan": ("id,prob\n" + body.replace(",0.5", ",nan", 1), "nan"),
        "csv-infinity": ("id,prob\n" + body.replace(",0.5", ",-Infinity", 1), "infinite"),
        "csv-overflow-number": ("id,prob\n" + body.replace(",0.5", ",1e999", 1), "infinite"),
        "csv-id-word": ("id,prob\nabc,0.5\n" + "\n".join(rows[1:]), "not an integer"),
        "csv-id-float": (f"id,prob\n{ids[0]}.0,0.5\n" + "\n".join(rows[1:]), "not an integer"),
        "csv-id-huge": ("id,prob\n" + "9" * 30 + ",0.5\n" + "\n".join(rows[1:]), "integer"),
        "csv-duplicate-id": ("id,prob\n" + "\n".join([rows[0], *rows[:-1]]), "distinct"),
        "csv-short": ("id,prob\n" + "\n".join(rows[:-1]), "distinct ids"),
        "csv-extra-rows": ("id,prob\n" + body + "123456789,0.5\n", "distinct ids"),
        "csv-wrong-id": ("id,prob\n" + "\n".join(["7,0.5", *rows[1:]]), "missing"),
    }
    out = [Case(k, _eval("p.csv"), m, files={"p.csv": t}) for k, (t, m) in cases.items()]
    out += [
        Case("csv-latin1", _eval("p.csv"), "UTF-8", files={"p.csv": b"id,prob\n1,0.5\xe9\n"}),
        Case("csv-nul", _eval("p.csv"), "NUL", files={"p.csv": b"id,prob\n1,0.5\x00\n"}),
        Case("csv-binary", _eval("p.csv"), "UTF-8", files={"p.csv": bytes(range(256)) * 4}),
    ]
    return out


def _json_cases(ids: np.ndarray) -> list[Case]:
    good_ids, half = ids.tolist(), [0.5] * N

    def doc(**kw: object) -> str:
        return json.dumps({"ids": good_ids, "probs": half, **kw})

    cases = {
        "json-more-probs-than-ids": (doc(probs=[*half, 0.5]), "270 probability rows for 269"),
        "json-fewer-probs": (doc(probs=half[:-1]), "268 probability rows for 269"),
        "json-probs-null": (doc(probs=None), "'probs' must be a list, got null"),
        "json-ids-null": (doc(ids=None), "'ids' must be a list, got null"),
        "json-ids-string": (doc(ids="1,2,3"), "'ids' must be a list, got a string"),
        "json-ids-object": (doc(ids={"a": 1}), "'ids' must be a list, got an object"),
        "json-probs-number": (doc(probs=0.5), "'probs' must be a list"),
        "json-top-level-list": (json.dumps([half]), "expected exactly"),
        "json-extra-key": (doc(method="m"), "expected exactly"),
        "json-missing-key": (json.dumps({"ids": good_ids}), "expected exactly"),
        "json-duplicate-key": (doc()[:-1] + ', "probs": []}', "appears twice"),
        "json-truncated": (doc()[:-40], "not valid JSON"),
        "json-empty": ("", "not valid JSON"),
        "json-deep-nesting": ('{"ids": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        "json-bool-probs": (doc(probs=[True] * N), "a boolean, not a number"),
        "json-string-probs": (doc(probs=["0.5"] * N), "a string, not a number"),
        "json-null-prob": (doc(probs=[None, *half[1:]]), "null, not a number"),
        "json-ragged-rows": (doc(probs=[[0.5, 0.5], [1.0]] * (N // 2) + [[1.0]]), "same number"),
        "json-3d-probs": (doc(probs=[[[0.5]]] * N), "not a number"),
        "json-nan": (doc(probs=[float("nan"), *half[1:]]), "nan"),
        "json-infinity": (doc(probs=[float("inf"), *half[1:]]), "infinite"),
        "json-bool-id": (doc(ids=[True, *good_ids[1:]]), "not an integer"),
        "json-float-id": (doc(ids=[1.5, *good_ids[1:]]), "not an integer"),
        "json-id-out-of-range": (doc(ids=[2**70, *good_ids[1:]]), "out of range"),
    }
    big = json.dumps({"ids": good_ids, "probs": half}).replace("0.5]", "1" + "0" * 400 + "]")
    cases["json-huge-int-prob"] = (big, "too large")
    out = [Case(k, _eval("p.json"), m, files={"p.json": t}) for k, (t, m) in cases.items()]
    out.append(Case("json-latin1", _eval("p.json"), "UTF-8", files={"p.json": b'{"ids": "\xe9"}'}))
    return out


def _file_cases() -> list[Case]:
    return [
        Case("pred-link-loop", _eval("loop"), "does not exist|not a regular", links=LOOP),
        Case("pred-dangling-link", _eval("gone.npy"), "does not exist", links={"gone.npy": "nope"}),
        Case("pred-missing", _eval("nope.npy"), "does not exist"),
        Case("pred-directory", _eval("d.npy"), "not a regular file", files={"d.npy/x": "x"}),
        Case("pred-suffix-txt", _eval("p.txt"), r"use a \.npy", files={"p.txt": "0.5\n"}),
        Case("pred-no-suffix", _eval("p"), r"use a \.npy", files={"p": VALID_NPY}),
    ]


def _argument_cases() -> list[Case]:
    p = {"p.npy": VALID_NPY}
    ev = ("bench", "evaluate", "{ws}/p.npy")
    return [
        Case("seed-huge", (*ev, "-t", TASK, "--seed", "9" * 20), "between 0 and", files=p),
        Case("seed-2**32", (*ev, "-t", TASK, "--seed", str(2**32)), "between 0 and", files=p),
        Case("seed-negative", (*ev, "-t", TASK, "--seed", "-1"), "between 0 and", files=p),
        Case("seed-word", (*ev, "-t", TASK, "--seed", "abc"), "valid integer", files=p),
        Case("seed-float", (*ev, "-t", TASK, "--seed", "4.2"), "valid integer", files=p),
        Case("method-empty", (*ev, "-t", TASK, "--method", ""), "non-empty", files=p),
        Case("method-spaces", (*ev, "-t", TASK, "--method", "   "), "non-empty", files=p),
        Case("method-newline", (*ev, "-t", TASK, "--method", "a\nb"), "printable", files=p),
        Case("method-long", (*ev, "-t", TASK, "--method", "m" * 300), "at most", files=p),
        Case("split-train", (*ev, "-t", TASK, "--split", "train"), "'test' or 'holdout'", files=p),
        Case("task-unknown", (*ev, "-t", "nosuch"), "unknown task 'nosuch'", files=p),
        Case("task-empty", (*ev, "-t", ""), "unknown task ''", files=p),
        Case("task-missing", ev, "missing option", files=p),
        Case("code-missing", (*ev, "-t", TASK, "--code", "{ws}/nope.py"), "not a file", files=p),
        Case("code-dir", (*ev, "-t", TASK, "--code", "{ws}"), "not a file", files=p),
    ]


def _log_cases() -> list[Case]:
    ev = ("bench", "evaluate", "{ws}/p.npy", "-t", TASK, "--log")
    header = '{"aar_log": "eval-records", "version": 1}\n'
    record = json.dumps(
        {
            "id": "r1",
            "task": TASK,
            "seed": 42,
            "split": "test",
            "method": "m",
            "metrics": {"acc": 0.5},
            "code_sha256": "x",
            "timestamp": "2026-12-01T00:00:00Z",
            "rounded": True,
            "predictions_sha256": "y",
            "budget_used": 1,
            "budget_total": 200,
        }
    )
    logs = {
        "log-text-file": ("notes.txt", "my notes, not a log\n", "not an aar log of kind"),
        "log-binary-file": ("bin.jsonl", bytes(range(256)), "not an aar log of kind"),
        "log-json-lines-not-records": ("o.jsonl", '{"a": 1}\n{"b": 2}\n', "not an aar"),
        "log-json-array": ("a.jsonl", "[1, 2, 3]\n", "not an aar"),
        "log-other-kind": ("k.jsonl", '{"aar_log": "session-events", "version": 1}\n', "events"),
        "log-newer-version": ("v.jsonl", '{"aar_log": "eval-records", "version": 2}\n', "version"),
        "log-damaged-middle": (
            "dm.jsonl",
            header + record + "\n{garbage\n" + record + "\n",
            "line 3 is damaged",
        ),
        "log-damaged-legacy": ("lg.jsonl", record + "\nnot json\n" + record + "\n", "line 2"),
        "log-hard-sidecar-as-log": (
            "x.hard.jsonl",
            '{"aar_log": "eval-hard-predictions", "version": 1}\n',
            "kind 'eval-hard-predictions', not 'eval-records'",
        ),
    }
    out = [
        Case(name, (*ev, f"{{ws}}/{file}"), match, files={"p.npy": VALID_NPY, file: content})
        for name, (file, content, match) in logs.items()
    ]
    out.append(
        Case(
            "log-sidecar-foreign",
            (*ev, "{ws}/ok.jsonl"),
            r"ok\.jsonl\.hard\.jsonl is not an aar log of kind 'eval-hard-predictions'",
            files={"p.npy": VALID_NPY, "ok.jsonl.hard.jsonl": "someone else's file\n"},
        )
    )
    for what, (path, match) in BAD_PATHS.items():
        out.append(
            Case(
                f"log-{what.replace(' ', '-')}",
                (*ev, path),
                match,
                files={"p.npy": VALID_NPY, **BAD_PATH_FILES},
            )
        )
    for name, path in (("log-in-link-loop", "{ws}/loop/x"), ("log-is-link-loop", "{ws}/loop")):
        out.append(
            Case(
                name,
                (*ev, path),
                "does not exist|dangling|not a",
                links=LOOP,
                files={"p.npy": VALID_NPY},
            )
        )
    out.append(
        Case(
            "log-name-too-long",
            (*ev, "{ws}/" + "l" * 300),
            "over 255 bytes",
            files={"p.npy": VALID_NPY},
        )
    )
    return out


def _run_cases() -> list[Case]:
    run = ("bench", "run", "--task", TASK, "--seeds", "1", "-m", "naive")
    full = {"results/summary.json": '{"keep": true}\n', **BAD_PATH_FILES}
    cases = [
        Case("run-out-nonempty", (*run, "--out", "{ws}/results"), "not empty", files=full),
        Case("run-out-is-file", (*run, "--out", "{ws}/afile"), "not a directory", files=full),
        Case("run-json-exists", (*run, "--json", "{ws}/afile"), "already exists", files=full),
        Case("run-json-directory", (*run, "--json", "{ws}/adir"), "directory", files=full),
        Case("run-out-name-too-long", (*run, "--out", "{ws}/" + "o" * 300), "over 255 bytes"),
        Case(
            "run-out-in-link-loop",
            (*run, "--out", "{ws}/loop/x"),
            "looping symbolic link",
            links=LOOP,
        ),
        Case(
            "run-out-is-link-loop", (*run, "--out", "{ws}/loop"), "dangling|not a dir", links=LOOP
        ),
        Case(
            "run-json-in-link-loop",
            (*run, "--json", "{ws}/loop/x"),
            "looping symbolic link",
            links=LOOP,
        ),
        Case(
            "export-in-link-loop",
            ("bench", "export-public", "-t", TASK, "{ws}/loop/x"),
            "looping symbolic link",
            links=LOOP,
        ),
        Case("run-json-name-too-long", (*run, "--json", "{ws}/" + "j" * 300), "over 255 bytes"),
        Case("run-device-bogus", (*run, "--device", "bogus"), "unknown device 'bogus'"),
        Case("run-device-empty", (*run, "--device", ""), "unknown device"),
        Case("run-device-index-word", (*run, "--device", "cuda:x"), "unknown device"),
        Case("run-seeds-zero", ("bench", "run", "--seeds", "0"), "between 1 and 100"),
        Case("run-seeds-many", ("bench", "run", "--seeds", "101"), "between 1 and 100"),
        Case("run-seeds-word", ("bench", "run", "--seeds", "five"), "valid integer"),
        Case("run-task-unknown", ("bench", "run", "-t", "nosuch"), "unknown task 'nosuch'"),
        Case("run-method-unknown", ("bench", "run", "-m", "magic"), "unknown method 'magic'"),
        Case("run-method-empty", ("bench", "run", "-m", ""), "unknown method ''"),
        Case(
            "run-runs-dir-is-file",
            run,
            "not a directory",
            files=full,
            env={"AAR_RUNS_DIR": "{ws}/afile"},
        ),
        Case("list-device-bogus", ("bench", "list", "--device", "bogus"), "unknown device"),
        Case("list-task-unknown", ("bench", "list", "-t", "nosuch"), "unknown task"),
    ]
    for what, (path, match) in BAD_PATHS.items():
        slug = what.replace(" ", "-")
        cases.append(Case(f"run-json-{slug}", (*run, "--json", path), match, files=full))
        if what == "missing parent":
            continue  # output directories are created with their parents, like `mkdir -p`
        cases.append(Case(f"run-out-{slug}", (*run, "--out", path), match, files=full))
        export = ("bench", "export-public", "-t", TASK, path)
        cases.append(Case(f"export-{slug}", export, match, files=full))
    cases += [
        Case("export-nonempty", ("bench", "export-public", "-t", TASK, "{ws}/adir"), "not empty"),
        Case(
            "export-seed-huge",
            ("bench", "export-public", "-t", TASK, "-s", "9" * 20, "{ws}/e"),
            "between 0 and",
        ),
        Case("export-task-unknown", ("bench", "export-public", "-t", "x", "{ws}/e"), "unknown"),
    ]
    return [c if c.files else replace(c, files=BAD_PATH_FILES) for c in cases]


def _all_cases() -> list[Case]:
    ids = _split_ids()
    return [
        *_npy_cases(),
        *_csv_cases(ids),
        *_json_cases(ids),
        *_file_cases(),
        *_argument_cases(),
        *_log_cases(),
        *_run_cases(),
    ]


CASES = _all_cases()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bench_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)


def test_multiclass_rows_must_sum_to_one(workspace: Path) -> None:
    """digits-10: a binary-shaped file and rows that do not sum to 1 are refused."""
    from aar.bench import Evaluator

    n = len(Evaluator(TASK10, 42, device="cpu").ids("test"))
    for name, arr, match in (
        ("one-column", np.full(n, 0.5), "shape"),
        ("not-summing", np.full((n, 10), 0.2), "sum to 1"),
    ):
        case = Case(
            name,
            ("bench", "evaluate", "-t", TASK10, "{ws}/p.npy"),
            match,
            files={"p.npy": _npy(arr)},
        )
        check(case, workspace)


def test_a_good_submission_is_scored_and_logged(workspace: Path) -> None:
    """The control: the same command with valid input works, so the refusals above are real.

    A CSV in any row order with a BOM and `id,p0,p1` is read by id, and the log gets its
    header and one record; a second, invalid submission leaves that log byte for byte."""
    from aar.bench import Evaluator

    small = "breast-cancer"  # the smallest task: its ceiling trains in a second
    ids = Evaluator(small, 42, device="cpu").ids("test")
    order = np.random.default_rng(0).permutation(len(ids))
    text = "\ufeffid,p0,p1\n" + "".join(f"{ids[i]},0.25,0.75\n" for i in order)
    (workspace / "p.csv").write_text(text)
    log = workspace / "evals.jsonl"
    good = run_cli(("bench", "evaluate", "-t", small, str(workspace / "p.csv"), "--log", str(log)))
    assert good.exit_code == 0, good.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == '{"aar_log": "eval-records", "version": 1}' and len(lines) == 2
    bad = ("bench", "evaluate", "-t", small, "{ws}/bad.csv", "--log", str(log))
    check(
        Case("bad-after-good", bad, "did you mean 'prob'", files={"bad.csv": "id,porb\n"}),
        workspace,
    )
