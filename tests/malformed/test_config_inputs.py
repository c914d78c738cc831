"""Settings (`aar.toml`, `AAR_CONFIG`, `AAR_*`) with malformed values: one line naming the
file or the variable, before any command does work; typos name the closest valid key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from malformed_support import Case, case_id, check

# `bench run --device bogus` reads the settings (default seeds) before it checks the device:
# a config error is reported first, and a config that loads fails on the device, never runs.
PROBE = ("bench", "run", "--device", "bogus")


def _toml(name: str, text: str | bytes, match: str) -> Case:
    return Case(name, PROBE, match, files={"aar.toml": text})


def _env(name: str, env: dict[str, str], match: str, **files: str) -> Case:
    return Case(name, PROBE, match, env=env, files=files)


TOML_CASES = [
    _toml("toml-syntax", "[bench\nseeds = [1]\n", r"aar\.toml is not valid TOML"),
    _toml("toml-truncated", "[bench]\nseeds = [42,", r"aar\.toml is not valid TOML"),
    _toml("toml-not-utf8", b"[bench]\nseeds = [1] # \xe9\n", r"aar\.toml is not UTF-8"),
    _toml("toml-binary", bytes(range(256)), r"aar\.toml is not UTF-8"),
    _toml("toml-nul", b"[bench]\x00\n", r"aar\.toml is not valid TOML"),
    _toml(
        "toml-key-typo",
        "[bench]\nseedz = [1]\n",
        r"bench\.seedz: unknown key; did you mean 'seeds'",
    ),
    _toml("toml-section-typo", "[bnch]\nseeds = [1]\n", r"bnch: unknown key; did you mean 'bench'"),
    _toml("toml-top-typo", 'runs_dirr = "r"\n', "did you mean 'runs_dir'"),
    _toml("toml-unknown-section", "[cluster]\nnodes = 3\n", r"aar\.toml: cluster: unknown key"),
    _toml(
        "toml-agent-unknown-key", "[agent]\nmodel = 'x'\n", r"aar\.toml: agent\.model: unknown key"
    ),
    _toml(
        "toml-agent-price-negative",
        '[agent.prices."openai:m"]\ninput_usd_per_mtok = -1\noutput_usd_per_mtok = 1\n',
        r"agent\.prices\.openai:m\.input_usd_per_mtok",
    ),
    _toml("toml-seeds-string", '[bench]\nseeds = "abc"\n', r"aar\.toml: bench\.seeds"),
    _toml("toml-seeds-float", "[bench]\nseeds = [1.5]\n", r"bench\.seeds\[0\]"),
    _toml("toml-seeds-empty", "[bench]\nseeds = []\n", r"bench\.seeds"),
    _toml("toml-seed-huge", "[bench]\nseeds = [99999999999]\n", r"bench\.seeds\[0\].*4294967295"),
    _toml("toml-budget-word", '[bench]\neval_budget = "lots"\n', r"bench\.eval_budget.*'lots'"),
    _toml("toml-budget-negative", "[bench]\neval_budget = -1\n", r"bench\.eval_budget"),
    _toml("toml-rounding-nan", "[bench]\nfeedback_rounding = nan\n", "feedback_rounding"),
    _toml(
        "toml-timeout-inf", "[sandbox]\ncell_timeout_s = inf\n", r"sandbox\.cell_timeout_s.*finite"
    ),
    _toml("toml-memory-zero", "[sandbox]\nmemory_mb = 0\n", r"sandbox\.memory_mb"),
    _toml("toml-isolation", '[sandbox]\nisolation = "docker"\n', r"sandbox\.isolation"),
    _toml("toml-device", '[bench]\ndevice = "bogus"\n', r"bench\.device: must be 'auto'"),
    _toml("toml-dedup-range", "[memory]\ndedup_threshold = 2\n", r"memory\.dedup_threshold"),
    _toml("toml-url-port", '[memory]\nurl = "http://127.0.0.1:99999"\n', r"memory\.url.*port"),
    _toml("toml-url-scheme", '[memory]\nurl = "ftp://host:1"\n', r"memory\.url.*http://HOST:PORT"),
    _toml("toml-section-is-value", "sandbox = 3\n", r"aar\.toml: sandbox"),
    _toml("toml-deep-array", "x = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    _toml("toml-deep-table", "x = " + "{a=" * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
    Case("toml-is-directory", PROBE, r"aar\.toml is not a regular file", files={"aar.toml/x": ""}),
    Case(
        "toml-runs-dir-is-a-file",
        PROBE,
        r"aar\.toml: runs_dir: exists and is not a directory",
        files={"aar.toml": 'runs_dir = "afile"\n', "afile": "notes"},
    ),
]

ENV_CASES = [
    _env(
        "env-runs-dir-is-a-file",
        {"AAR_RUNS_DIR": "{ws}/afile"},
        "AAR_RUNS_DIR: runs_dir: exists and is not a directory",
        afile="notes",
    ),
    _env("env-seeds-open-list", {"AAR_BENCH__SEEDS": "[42,"}, "AAR_BENCH__SEEDS must be JSON"),
    _env("env-seeds-word", {"AAR_BENCH__SEEDS": "abc"}, "AAR_BENCH__SEEDS must be JSON"),
    _env("env-seeds-empty", {"AAR_BENCH__SEEDS": ""}, "AAR_BENCH__SEEDS must be JSON"),
    _env("env-seeds-object", {"AAR_BENCH__SEEDS": '{"a": 1}'}, "variable AAR_BENCH__SEEDS"),
    _env("env-seeds-negative", {"AAR_BENCH__SEEDS": "[-1]"}, r"AAR_BENCH__SEEDS.*seeds\[0\]"),
    _env("env-seeds-bools", {"AAR_BENCH__SEEDS": "[true]"}, "AAR_BENCH__SEEDS"),
    _env("env-deep-json", {"AAR_BENCH__SEEDS": "[" * 50_000 + "]" * 50_000}, "nested too deep"),
    _env("env-plugins-word", {"AAR_BENCH__PLUGINS": "notjson"}, "AAR_BENCH__PLUGINS must be JSON"),
    _env("env-section-json", {"AAR_BENCH": "{oops"}, "AAR_BENCH must be JSON"),
    _env("env-key-typo", {"AAR_BENCH__SEEDZ": "[1]"}, "did you mean AAR_BENCH__SEEDS"),
    _env("env-one-underscore", {"AAR_BENCH_SEEDS": "[1]"}, "did you mean AAR_BENCH__SEEDS"),
    _env("env-too-deep", {"AAR_BENCH__SEEDS__X": "1"}, "bench.seeds has no parts"),
    _env("env-budget-word", {"AAR_BENCH__EVAL_BUDGET": "abc"}, "AAR_BENCH__EVAL_BUDGET"),
    _env("env-timeout-nan", {"AAR_SANDBOX__CELL_TIMEOUT_S": "nan"}, "AAR_SANDBOX__CELL_TIMEOUT_S"),
    _env("env-timeout-inf", {"AAR_SANDBOX__CELL_TIMEOUT_S": "inf"}, "finite"),
    _env("env-isolation", {"AAR_SANDBOX__ISOLATION": "docker"}, "AAR_SANDBOX__ISOLATION"),
    _env("env-device", {"AAR_BENCH__DEVICE": "gpu"}, "AAR_BENCH__DEVICE"),
    _env("env-url-port", {"AAR_MEMORY_URL": "http://127.0.0.1:99999"}, "AAR_MEMORY_URL.*port"),
    _env("env-url-word", {"AAR_MEMORY_URL": "notaurl"}, "AAR_MEMORY_URL"),
    _env("env-config-missing", {"AAR_CONFIG": "{ws}/nope.toml"}, "AAR_CONFIG names .*not exist"),
    _env("env-config-directory", {"AAR_CONFIG": "{ws}"}, "AAR_CONFIG names .*not a regular"),
    _env("env-config-empty", {"AAR_CONFIG": ""}, "AAR_CONFIG is set but empty"),
    _env(
        "env-config-bad-file",
        {"AAR_CONFIG": "{ws}/other.toml"},
        r"other\.toml is not valid TOML",
        **{"other.toml": "= nope"},
    ),
    _env(
        "env-wins-and-is-named",
        {"AAR_BENCH__EVAL_BUDGET": "-5"},
        "environment variable AAR_BENCH__EVAL_BUDGET",
        **{"aar.toml": "[bench]\neval_budget = 3\n"},
    ),
]


@pytest.mark.parametrize("case", TOML_CASES + ENV_CASES, ids=case_id)
def test_config_inputs(case: Case, workspace: Path) -> None:
    check(case, workspace)


def test_config_error_in_a_fresh_process(workspace: Path) -> None:
    """The console path too: a broken aar.toml is one line from `python -m aar`."""
    case = Case(
        "process", PROBE, r"aar\.toml is not valid TOML", files={"aar.toml": "[["}, process=True
    )
    check(case, workspace)


def test_unrelated_aar_variables_are_not_settings(workspace: Path) -> None:
    """`AAR_PYTHON` (tools/setup) and the like are left alone: only settings-shaped names."""
    case = Case(
        "unrelated",
        PROBE,
        "unknown device 'bogus'",
        env={"AAR_PYTHON": "/usr/bin/python3", "AAR_SECRET_TOKEN": "x"},
    )
    check(case, workspace)


_KEYS = st.sampled_from(
    [
        "seeds",
        "device",
        "eval_budget",
        "plugins",
        "cache_dir",
        "min_gap",
        "memory_mb",
        "isolation",
        "url",
        "path",
        "x",
        "",
    ]
)
_VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.text(max_size=12).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
    st.lists(st.integers(-5, 2**40), max_size=3).map(str),
    st.sampled_from(["true", "[]", "{}", "[1.5]", '["a"]', "nan", "-inf"]),
)


@given(
    section=st.sampled_from(["bench", "sandbox", "memory", "bnch", ""]),
    key=_KEYS,
    value=_VALUES,
)
def test_generated_aar_toml_loads_or_is_one_config_error(
    workspace: Path, section: str, key: str, value: str
) -> None:
    """Any small aar.toml either loads or raises one `ConfigError` line naming the file."""
    from aar.config import get_settings
    from aar.errors import ConfigError

    text = (f"[{section}]\n" if section else "") + f"{key or 'k'} = {value}\n"
    (workspace / "aar.toml").write_text(text)
    get_settings.cache_clear()
    try:
        get_settings()
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert "aar.toml" in str(exc)
    finally:
        get_settings.cache_clear()


@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_as_aar_toml(workspace: Path, raw: bytes) -> None:
    from aar.config import get_settings
    from aar.errors import ConfigError

    (workspace / "aar.toml").write_bytes(raw)
    get_settings.cache_clear()
    try:
        get_settings()
    except ConfigError as exc:
        assert "\n" not in str(exc) and "aar.toml" in str(exc)
    finally:
        get_settings.cache_clear()
