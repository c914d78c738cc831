"""Settings come from aar.toml and AAR_* variables; bad values are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from aar.config import Settings, get_settings
from aar.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AAR_MEMORY_PATH", "AAR_MEMORY_URL", "AAR_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def test_defaults() -> None:
    settings = Settings()
    assert settings.bench.seeds == [42, 43, 44, 45, 46]
    assert settings.sandbox.isolation == "bwrap"
    assert settings.memory.path == Path("memory")
    assert settings.memory.url is None


def test_toml_file_then_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "aar.toml").write_text(
        '[bench]\nseeds = [1, 2]\neval_budget = 7\n[memory]\npath = "team-memory"\n'
    )
    settings = Settings()
    assert settings.bench.seeds == [1, 2]
    assert settings.bench.eval_budget == 7
    assert settings.memory.path == Path("team-memory")

    monkeypatch.setenv("AAR_BENCH__EVAL_BUDGET", "9")
    monkeypatch.setenv("AAR_MEMORY_URL", "http://127.0.0.1:8123")
    settings = Settings()
    assert settings.bench.eval_budget == 9
    assert settings.bench.seeds == [1, 2]
    assert settings.memory.url == "http://127.0.0.1:8123"
    assert settings.memory.path == Path("team-memory")


def test_config_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('[sandbox]\nisolation = "none"\n')
    monkeypatch.setenv("AAR_CONFIG", str(other))
    assert Settings().sandbox.isolation == "none"


def test_bad_value_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AAR_SANDBOX__ISOLATION", "docker")
    with pytest.raises(ConfigError, match=r"sandbox\.isolation"):
        get_settings()
