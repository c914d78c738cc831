"""Settings from `aar.toml` (current directory, or `AAR_CONFIG`) and `AAR_*` environment variables.

Environment variables win over the file; nested fields use a double underscore,
e.g. `AAR_BENCH__SEEDS='[42,43]'` or `AAR_SANDBOX__ISOLATION=none`. A few common ones have
short aliases the issues and README use: `AAR_MEMORY_PATH`, `AAR_MEMORY_URL`.

Every mistake is one `ConfigError` line naming the file or the variable: a file that is not
UTF-8 or not TOML, an `AAR_CONFIG` that is missing or not a file, a value that is not JSON
where a list is expected, and unknown keys (a typo names the closest valid key).

Long because every setting of aar is declared here, with its default and why: one file is
the reference a user reads (README points at it), and the checks that name a mistaken key
must see the whole tree.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as _SettingsError

from aar.errors import ConfigError, closest_key, validation_message

SEED_MAX = 2**32 - 1
"""Seeds go to numpy, scikit-learn and torch; scikit-learn takes at most 2**32 - 1."""
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]{1,3})?)$"
"""'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'."""
Seed = Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)]
"""Strict: `true` or "42" in a seed list is a mistake, not seed 1 or 42."""
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
"""Unknown keys are typos; NaN or infinite limits would switch limits off."""


def _named_path(value: Any) -> Any:
    """An empty path is a mistake (an unset shell variable), not the current directory, which
    is what `Path("")` means: `runs_dir = ""` wrote sessions into whatever directory aar ran in."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty (an unset shell variable?); name a path or leave it out")
    return value


_KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


def _own_file_path(value: Any) -> Any:
    """A cache or key path aar writes must not be under /proc, /sys or /dev: nothing can be
    created there (a key "read" from /proc would be the kernel's data, not a secret), and the
    mistake surfaced only after seconds of work, or never for a cache."""
    value = _named_path(value)
    if isinstance(value, str | Path):
        full = os.path.abspath(os.path.expanduser(value))
        root = next((r for r in _KERNEL_FILESYSTEMS if full == r or full.startswith(r + "/")), "")
        if root:
            raise ValueError(f"is under {root}, where aar cannot keep files; choose another path")
    return value


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aar"


def _default_key_file() -> Path:
    """A data file, not a cache: deleting it changes every task's export (see aar.bench)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aar" / "task-key"


class BenchSettings(BaseModel):
    """Weak-to-strong benchmark and evaluator."""

    model_config = _STRICT

    seeds: list[Seed] = Field(
        default=[42, 43, 44, 45, 46], min_length=1, description="Default seeds."
    )
    device: str = Field(default="auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
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

    @field_validator("cache_dir", "key_file", mode="before")
    @classmethod
    def _paths_are_named(cls, value: Any) -> Any:
        return _own_file_path(value)

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not re.fullmatch(DEVICE_PATTERN, device):
            raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return device


def _default_scorer_dir() -> Path:
    """Installation data, like the task key: the scorer's ledger outlives every session."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aar" / "scorer"


class ScorerSettings(BaseModel):
    """The installation's one scorer: its ledger and its feedback mechanism (aar.scorer)."""

    model_config = _STRICT

    dir: Path = Field(
        default_factory=_default_scorer_dir,
        description="The evaluation ledger shared by every session, command and process.",
    )
    ladder_step: float = Field(
        default=0.03,
        gt=0,
        le=1,
        description="A test score is shown only when it beats the best so far on its split "
        "by at least max(ladder_step, ladder_scale / sqrt(test rows)).",
    )
    ladder_scale: float = Field(
        default=1.0, ge=0, description="The split-size term of the ladder step (see above)."
    )
    pool_answers: int = Field(
        default=64,
        ge=0,
        description="Informative answers (shown scores) per task pool, across every seed, "
        "split, session and process of the installation.",
    )
    lock_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for the ledger's lock."
    )
    url: str | None = Field(
        default=None,
        description="A scorer service (`aar scorer serve`, or a team's) to score through "
        "instead of the local ledger. A process with it set never loads labels: it gets public "
        "exports and the task key's id from the service, and loading a task's data fails.",
    )
    token_file: Path | None = Field(
        default=None, description="The scorer service's token (required with `url`)."
    )

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str | None) -> str | None:
        return _http_url(url)

    @model_validator(mode="after")
    def _token_with_url(self) -> ScorerSettings:
        if self.url is not None and self.token_file is None:
            raise ValueError(
                "scorer.url needs scorer.token_file (the service refuses anonymous calls)"
            )
        return self


class SandboxSettings(BaseModel):
    """The isolated Jupyter kernel experiments run in."""

    model_config = _STRICT

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

    model_config = _STRICT

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

    @field_validator("path", mode="before")
    @classmethod
    def _path_is_named(cls, value: Any) -> Any:
        return _named_path(value)

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _cache_is_ours(cls, value: Any) -> Any:
        return _own_file_path(value)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str | None) -> str | None:
        return _http_url(url)


def _http_url(url: str | None) -> str | None:
    """Checked when settings load, so a bad URL fails there, not deep inside a client."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a usable URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must look like http://HOST:PORT")
    if port == 0:
        raise ValueError("port must be between 1 and 65535")
    return url


def _default_review_key_file() -> Path:
    """Next to the task key: a data file whose loss makes the audit log unverifiable."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aar" / "review-key"


def _default_reviewer() -> str:
    """`AAR_REVIEWER`, else the OS user (a uid when the user has no passwd entry)."""
    import getpass

    named = os.environ.get("AAR_REVIEWER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


class ReviewSettings(BaseModel):
    """The review gate: who decides, the key of the audit log's chain, proposal lifetime."""

    model_config = _STRICT

    key_file: Path = Field(
        default_factory=_default_review_key_file,
        description="The installation's secret review key (HMAC of the audit log's chain; "
        "created on first decision; never visible in the sandbox).",
    )
    reviewer: str = Field(
        default_factory=_default_reviewer,
        min_length=1,
        max_length=200,
        description="Who `aar review approve/reject` records as the reviewer.",
    )
    proposal_lifetime_days: float = Field(
        default=7.0, gt=0, description="A proposal not decided within this many days expires."
    )
    reviewers: dict[str, str] = Field(
        default_factory=dict,
        description="Who may decide on the web page (`aar serve`): name -> 'sha256:<hex>' of "
        "the person's token (`aar review token NAME` makes one; the token itself is never "
        "stored).",
    )

    @field_validator("key_file", mode="before")
    @classmethod
    def _key_is_ours(cls, value: Any) -> Any:
        return _own_file_path(value)

    @field_validator("reviewers")
    @classmethod
    def _token_hashes(cls, reviewers: dict[str, str]) -> dict[str, str]:
        for name, digest in reviewers.items():
            if not name.strip() or len(name) > 200 or not name.isprintable() or name == "aar":
                raise ValueError(f"reviewer name {name!r} is not usable (1-200 printable, not aar)")
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                raise ValueError(
                    f"reviewer {name!r}: expected 'sha256:' and 64 hex digits (from "
                    "`aar review token NAME`), never the token itself"
                )
        return reviewers


class ServeSettings(BaseModel):
    """The reviewers' web page (`aar serve`); it binds 127.0.0.1 unless --host says otherwise."""

    model_config = _STRICT

    port: int = Field(default=8765, ge=1, le=65535)
    login_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="A reviewer's login expires after this."
    )


class ModelPriceSettings(BaseModel):
    """USD per million tokens of one model (overrides genai-prices; needed for models it lacks)."""

    model_config = _STRICT

    input_usd_per_mtok: float = Field(ge=0, allow_inf_nan=False)
    output_usd_per_mtok: float = Field(ge=0, allow_inf_nan=False)


class RetrySettings(BaseModel):
    """How a session's model retries provider rate limits (429) and transient errors (5xx, a
    lost connection): bounded attempts, capped exponential backoff, the server's Retry-After
    honoured. The round's wall-clock budget bounds every wait."""

    model_config = _STRICT

    attempts: int = Field(default=5, ge=1, le=20, description="Tries per request, the first too.")
    backoff_s: float = Field(default=1.0, ge=0, le=60, description="The first wait; doubles.")
    max_backoff_s: float = Field(default=30.0, ge=0, le=600, description="The longest backoff.")
    max_retry_after_s: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="The longest Retry-After honoured; a longer one gives up at once.",
    )


class HistorySettings(BaseModel):
    """How long a round's message history may grow: past `max_tokens` input tokens a request,
    old bulky tool outputs (cell outputs, memory searches, old cells' code) are condensed to a
    short placeholder, oldest first, keeping the last `keep_turns` requests whole."""

    model_config = _STRICT

    max_tokens: int = Field(
        default=100_000, ge=1000, description="Input tokens a request may carry before condensing."
    )
    keep_turns: int = Field(default=4, ge=1, le=100, description="Recent requests kept whole.")


class AgentSettings(BaseModel):
    """The research agent."""

    model_config = _STRICT

    prices: dict[str, ModelPriceSettings] = Field(
        default_factory=dict,
        description="Model spec ('openai:NAME') -> price; `[agent.prices.\"openai:NAME\"]` in "
        "aar.toml. A USD budget needs a price for the session's model. A model reached through "
        "a base URL other than its provider's own is priced only here.",
    )
    max_tokens: int = Field(
        default=4096,
        ge=1,
        description="The most tokens one model response may have (sent as `max_tokens`, or "
        "`max_completion_tokens` to OpenAI's own endpoint).",
    )
    retry: RetrySettings = RetrySettings()
    history: HistorySettings = HistorySettings()


class SessionSettings(BaseModel):
    """Default budgets of `aar run` (aar.toml `[session]`). Left unset, the evaluation and
    request budgets are sized to the round asked for; a value set here must cover the round
    (else `aar run` refuses before anything runs), while `--budget-*` on the command line may
    cut a round short on purpose (its report then says what was cut)."""

    model_config = _STRICT

    evals: int | None = Field(default=None, ge=0, description="Scored test submissions.")
    requests: int | None = Field(default=None, ge=0, description="Model requests.")


class Settings(BaseSettings):
    """All of aar's settings; one section per package."""

    model_config = SettingsConfigDict(env_prefix="AAR_", env_nested_delimiter="__", extra="forbid")

    runs_dir: Path = Field(default=Path("runs"), description="Where runs and sessions are written.")
    bench: BenchSettings = BenchSettings()
    scorer: ScorerSettings = Field(default_factory=ScorerSettings)
    sandbox: SandboxSettings = SandboxSettings()
    memory: MemorySettings = MemorySettings()
    review: ReviewSettings = Field(default_factory=ReviewSettings)  # reads AAR_REVIEWER now
    agent: AgentSettings = AgentSettings()
    serve: ServeSettings = ServeSettings()
    session: SessionSettings = SessionSettings()

    @field_validator("runs_dir", mode="before")
    @classmethod
    def _runs_dir_is_named(cls, value: Any) -> Any:
        return _named_path(value)

    @field_validator("runs_dir")
    @classmethod
    def _runs_dir_is_not_a_file(cls, value: Path) -> Path:
        """Checked here, once for every command: each would otherwise fail its own way."""
        if value.exists() and not value.is_dir():
            raise ValueError("exists and is not a directory")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        _check_environment(os.environ)
        return (init_settings, _ShortAliases(settings_cls), env_settings, _TomlFile(settings_cls))


class _ShortAliases(PydanticBaseSettingsSource):
    """`AAR_MEMORY_PATH` / `AAR_MEMORY_URL`: the documented short forms of memory settings."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, object]:
        memory = {
            key: os.environ[env]
            for key, env in (("path", "AAR_MEMORY_PATH"), ("url", "AAR_MEMORY_URL"))
            if os.environ.get(env) or (key == "path" and env in os.environ)
        }  # an empty AAR_MEMORY_PATH is refused (memory.path); an empty URL means no server
        return {"memory": memory} if memory else {}


class _TomlFile(PydanticBaseSettingsSource):
    """`aar.toml` (or `AAR_CONFIG`), read with errors that name the file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if path is None:
            return {}
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{path} is nested too deeply to be aar settings") from None


PROJECT_MARKERS = ("aar.toml", "runs")
"""What makes a directory an aar project: its settings file, or the runs directory it wrote."""


def project_root(start: Path | None = None) -> Path | None:
    """The project aar works in, found the way git finds a repository: the nearest directory,
    from `start` (the working directory) up to the filesystem's root, holding `aar.toml` or
    `runs/`. None when no directory on the way holds either."""
    here = (start or Path.cwd()).absolute()
    for directory in (here, *here.parents):
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            return directory
    return None


def project_note(start: Path | None = None) -> str | None:
    """Where aar looked for a project and how to point at one, for a reading command that
    found nothing (None inside a project, or when `AAR_CONFIG` names the settings)."""
    if os.environ.get("AAR_CONFIG") or project_root(start) is not None:
        return None
    here = (start or Path.cwd()).absolute()
    return (
        f"no aar project here: looked for aar.toml or runs/ in {here} and every directory "
        "above it; run aar inside a project, or set AAR_CONFIG=PATH/aar.toml or "
        "AAR_RUNS_DIR=PATH/runs"
    )


def config_path() -> Path | None:
    """The settings file in use: `AAR_CONFIG` (which must exist), else the project's
    `aar.toml` (`./aar.toml`, or the nearest directory above with one: `project_root`)."""
    named = os.environ.get("AAR_CONFIG")
    if named is not None and not named.strip():
        raise ConfigError("AAR_CONFIG is set but empty; unset it or name a settings file")
    path = Path(named or "aar.toml")
    if named is None and not path.exists():
        root = project_root()
        if root is not None and (root / "aar.toml").exists():
            path = root / "aar.toml"
    if not path.exists():
        if named is None:
            return None
        raise ConfigError(f"AAR_CONFIG names {path}, which does not exist")
    if not path.is_file():
        origin = f"AAR_CONFIG names {path}, which" if named is not None else f"settings file {path}"
        raise ConfigError(f"{origin} is not a regular file")
    return path


_NOT_SETTINGS = {"AAR_CONFIG", "AAR_MEMORY_PATH", "AAR_MEMORY_URL"}


def _check_environment(environ: Mapping[str, str]) -> None:
    """`AAR_*` variables aimed at a setting must name a real one and, for lists, hold JSON.

    pydantic-settings would say only which section failed, not which variable. Variables
    that do not start like a section (e.g. `AAR_PYTHON` of tools/setup) are not settings.
    """
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith("AAR_") or upper in _NOT_SETTINGS:
            continue
        keys = upper[4:].lower().split("__")
        model: type[BaseModel] = Settings
        for depth, key in enumerate(keys):
            field = model.model_fields.get(key)
            if field is None:
                _unknown_variable(name, keys, depth, model)
                break
            sub = _model_of(field.annotation)
            if depth == len(keys) - 1:
                _check_env_value(name, value, field.annotation)
            elif sub is None:
                raise ConfigError(f"{name}: setting {'.'.join(keys[: depth + 1])} has no parts")
            else:
                model = sub


def _unknown_variable(name: str, keys: list[str], depth: int, model: type[BaseModel]) -> None:
    if depth == 0:
        section, _, rest = keys[0].partition("_")
        field = Settings.model_fields.get(section)
        sub = None if field is None else _model_of(field.annotation)
        guess = closest_key(rest, list(sub.model_fields)) if sub and rest else None
        if guess:  # AAR_BENCH_SEEDS: one underscore where two separate section and key
            raise ConfigError(
                f"{name} is not a setting; did you mean AAR_{section.upper()}__{guess.upper()}?"
            )
        _unknown_section(name, keys)
        return  # not meant as a setting
    where = ".".join(keys[: depth + 1])
    guess = closest_key(keys[depth], list(model.model_fields))
    prefix = "_".join(["AAR", *keys[:depth]]).upper()
    hint = f"; did you mean {prefix}__{guess.upper()}?" if guess else ""
    raise ConfigError(f"{name}: unknown setting {where}{hint}")


_NOT_SETTINGS_BY_NAME = {"AAR_REVIEWER"}
"""Documented variables that are read directly, not as settings."""


def _unknown_section(name: str, keys: list[str]) -> None:
    """Fail closed on a variable shaped like a setting that names none: `AAR_SANDBOXX__ISOLATION`
    (a typo'd section, with the `__` that only settings use) was ignored, so the sandbox ran
    with its default. A plain word close to a top-level name (`AAR_RUNS_DIRR`) is refused too;
    other names (`AAR_PYTHON` of tools/setup) are not settings and are left alone."""
    if name.upper() in _NOT_SETTINGS_BY_NAME:
        return
    names = list(Settings.model_fields)
    if len(keys) > 1:
        guess = closest_key(keys[0], names)
        hint = (
            f"did you mean AAR_{'__'.join([guess, *keys[1:]]).upper()}?"
            if guess
            else f"settings sections are {', '.join(n for n in names if n != 'runs_dir')}"
        )
        raise ConfigError(f"{name}: unknown setting section {keys[0]!r}; {hint}")
    close = difflib.get_close_matches(keys[0], names, n=1, cutoff=0.85)
    if close:
        raise ConfigError(f"{name} is not a setting; did you mean AAR_{close[0].upper()}?")


def _check_env_value(name: str, value: str, annotation: Any) -> None:
    if not _is_complex(annotation):
        return
    try:
        json.loads(value)
    except RecursionError:
        raise ConfigError(f"{name} is nested too deeply to be a setting") from None
    except ValueError as exc:  # a JSONDecodeError, or an integer past Python's digit limit
        example = "'{\"seeds\": [42]}'" if _model_of(annotation) else "'[42, 43]' or '[\"a\"]'"
        why = (
            f"{exc.msg} at character {exc.pos}"
            if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )
        raise ConfigError(f"{name} must be JSON, e.g. {example}: {why}") from None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _is_complex(annotation: Any) -> bool:
    """Lists, dicts and models: pydantic-settings reads these from the environment as JSON."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_complex(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Annotated:
        return _is_complex(get_args(annotation)[0])
    return origin in (list, dict, tuple, set) or _model_of(annotation) is not None


def _source_of(loc: tuple[int | str, ...]) -> str:
    """Which variable or file a failing setting came from (variables win over the file)."""
    names = {key.upper() for key in os.environ}
    keys = [str(part).upper() for part in loc if isinstance(part, str)]
    for depth in range(len(keys), 0, -1):
        candidate = "AAR_" + "__".join(keys[:depth])
        if candidate in names:
            return f"environment variable {candidate}"
    alias: dict[tuple[str, ...], str] = {
        ("MEMORY", "PATH"): "AAR_MEMORY_PATH",
        ("MEMORY", "URL"): "AAR_MEMORY_URL",
    }
    short = alias.get(tuple(keys[:2]))
    if short and short in names:
        return f"environment variable {short}"
    path = config_path()
    return str(path) if path else "the defaults"


_PATH_VARIABLES = {
    "runs_dir": ("AAR_RUNS_DIR",),
    "memory": ("AAR_MEMORY_PATH", "AAR_MEMORY__PATH"),
}
"""The variables that set each project-relative path: a path set there stays relative to the
working directory, as a shell user means it."""


def _in_project(settings: Settings) -> Settings:
    """Relative project paths (the runs directory, the memory) taken against the project's
    directory when aar runs below it (`project_root`): from `proj/src`, `runs` is
    `proj/runs`, as `git` finds `.git` from any subdirectory. Nothing changes in the project
    directory itself, or when `AAR_CONFIG` names the settings."""
    root = project_root()
    if os.environ.get("AAR_CONFIG") or root is None or root == Path.cwd().absolute():
        return settings
    names = {key.upper() for key in os.environ}
    update: dict[str, Any] = {}
    if not settings.runs_dir.is_absolute() and not names & set(_PATH_VARIABLES["runs_dir"]):
        update["runs_dir"] = root / settings.runs_dir
    memory = settings.memory
    if not memory.path.is_absolute() and not names & set(_PATH_VARIABLES["memory"]):
        update["memory"] = memory.model_copy(update={"path": root / memory.path})
    return settings.model_copy(update=update) if update else settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once. Bad values raise one clear `ConfigError`."""
    try:
        return _in_project(Settings())
    except ValidationError as exc:
        loc = tuple(exc.errors()[0]["loc"])
        prefix = f"invalid setting in {_source_of(loc)}: "
        raise ConfigError(validation_message(exc, prefix=prefix, model=Settings)) from None
    except _SettingsError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
