"""Settings from `aar.toml` (current directory, or `AAR_CONFIG`) and `AAR_*` environment variables.

Environment variables win over the file; nested fields use a double underscore,
e.g. `AAR_BENCH__SEEDS=3` or `AAR_SANDBOX__ISOLATION=none`. A few common ones have short
aliases the issues and README use: `AAR_MEMORY_PATH`, `AAR_MEMORY_URL`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aar.errors import ConfigError


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aar"


def _default_key_file() -> Path:
    """A data file, not a cache: deleting it changes every task's export (see aar.bench)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aar" / "task-key"


class BenchSettings(BaseModel):
    """Weak-to-strong benchmark and evaluator."""

    seeds: list[int] = Field(default=[42, 43, 44, 45, 46], description="Default seeds.")
    device: str = Field(default="auto", description="'auto', 'cpu' or 'cuda'.")
    eval_budget: int = Field(default=200, ge=0, description="Scored submissions per session.")
    feedback_rounding: float = Field(
        default=0.01, gt=0, description="Test-split feedback scores are rounded to this step."
    )
    near_duplicate_max_diff: int = Field(
        default=5,
        ge=0,
        description="A submission differing from an earlier one in at most this many "
        "predictions is flagged (label probing).",
    )
    min_gap: float = Field(
        default=0.05, ge=0, description="Tasks with ceiling - weak accuracy below this are flagged."
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Cached text embeddings and data."
    )
    key_file: Path = Field(
        default_factory=_default_key_file,
        description="The installation's secret task key (created on first use; never "
        "visible in the sandbox). Share it to export identical tasks elsewhere.",
    )
    plugins: list[str] = Field(
        default=[], description="Extra task modules to import ('package.module')."
    )


class SandboxSettings(BaseModel):
    """The isolated Jupyter kernel experiments run in."""

    isolation: Literal["bwrap", "none"] = Field(
        default="bwrap", description="'none' is for development only; its results are unsafe."
    )
    memory_mb: int = Field(default=4096, gt=0)
    cpu_seconds: int = Field(default=600, gt=0)
    max_processes: int = Field(default=256, gt=0)
    max_file_mb: int = Field(default=512, gt=0)
    scratch_mb: int = Field(default=1024, gt=0)
    cell_timeout_s: float = Field(default=120.0, gt=0)
    experiment_timeout_s: float = Field(default=1800.0, gt=0)
    output_limit_chars: int = Field(default=100_000, gt=0)
    pool_size: int = Field(default=1, ge=0)
    policy_dir: Path | None = Field(
        default=None, description="Directory with policy.toml and kernel/ (default: sandbox/)."
    )


class MemorySettings(BaseModel):
    """The findings memory: a local chromadb directory or a shared Chroma server."""

    path: Path = Field(
        default=Path("memory"),
        description="Local store directory (used when no url is set).",
    )
    url: str | None = Field(
        default=None,
        description="Chroma server, e.g. http://127.0.0.1:8000.",
    )
    dedup_threshold: float = Field(
        default=0.95,
        ge=0,
        le=1,
        description="Cosine similarity at or above which a finding for the same task(s) and "
        "method is linked to the earlier one as a duplicate.",
    )
    embedding: Literal["minilm", "static"] = Field(
        default="minilm",
        description="'minilm': all-MiniLM-L6-v2 via onnxruntime (better retrieval); 'static': "
        "a table distilled from it (~100x faster to embed, weaker retrieval).",
    )
    cache_dir: Path = Field(
        default_factory=lambda: _default_cache_dir() / "memory",
        description="Embedding artefacts derived offline from the shipped MiniLM weights.",
    )


class Settings(BaseSettings):
    """All of aar's settings; one section per package."""

    model_config = SettingsConfigDict(
        env_prefix="AAR_", env_nested_delimiter="__", extra="ignore", toml_file="aar.toml"
    )

    runs_dir: Path = Field(default=Path("runs"), description="Where runs and sessions are written.")
    bench: BenchSettings = BenchSettings()
    sandbox: SandboxSettings = SandboxSettings()
    memory: MemorySettings = MemorySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("AAR_CONFIG", "aar.toml"))
        return (
            init_settings,
            _ShortAliases(settings_cls),
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )


class _ShortAliases(PydanticBaseSettingsSource):
    """`AAR_MEMORY_PATH` / `AAR_MEMORY_URL`: the documented short forms of memory settings."""

    def get_field_value(self, field, field_name):  # type: ignore[no-untyped-def]
        return None, field_name, False

    def __call__(self) -> dict[str, object]:
        memory = {
            key: os.environ[env]
            for key, env in (("path", "AAR_MEMORY_PATH"), ("url", "AAR_MEMORY_URL"))
            if os.environ.get(env)
        }
        return {"memory": memory} if memory else {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once. Bad values raise one clear `ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None
