"""Student methods by name or configuration file, parsed without importing torch (the CLI
checks them first).

A bench method is a configuration of the shared method space (`sandbox/kernel/aar_recipes`,
the code the session's kernel runs too): a built-in family at fixed parameters, optionally
with early stopping (`logconf+es`), or any `MethodConfig` read from a JSON file
(`aar bench run --method CONFIG.json`), named after the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from aar.bench._errors import UnknownMethodError

BASELINES = ("weak", "ceiling")
BASES = ("naive", "logconf", "bootstrap")
METHODS = (*BASES, *(f"{b}+es" for b in BASES))
DEFAULT_METHODS = ("naive", "logconf")
BALANCED = "balanced"
"""The auxiliary loss's multiclass hardening that everything aar writes now asks for (see
`with_balanced_hardening`)."""
CONFIG_SUFFIX = ".json"
MAX_CONFIG_BYTES = 65_536
"""A configuration is a few hundred bytes; a larger file is refused before it is read."""


class Method(BaseModel):
    """A parsed student method: a name (e.g. 'logconf+es') and its configuration (the
    `MethodConfig` fields, as a mapping the kernel-side model validates)."""

    model_config = ConfigDict(frozen=True)

    name: str
    config: dict[str, Any]
    source: str = "built-in"
    """'built-in', or the configuration file it was read from."""

    def method_config(self) -> Any:
        """The configuration as the method space's `MethodConfig` (pydantic only, no torch)."""
        from aar.bench._train import method_space

        return method_space().MethodConfig.model_validate(self.config)


def with_balanced_hardening(config: dict[str, Any]) -> dict[str, Any]:
    """`config` (a `MethodConfig` mapping) with the auxiliary loss hardening the student's
    own predictions under the weak labels' class shares, whenever the loss is on.

    The library's default stays argmax, so that the configuration deltas of scripts written
    before keep their meaning; but argmax let one class swallow the others on 10-class
    digits (holdout PGR -0.62 at aux_coef 0.75, balanced 0.40, naive 0.23), so the method
    space's configurations aar writes (the scripted researcher's) ask for balanced. The
    bench's built-in `logconf` and the legacy family stay the published reference (argmax):
    it is the honest baseline of the attack battery, and a balanced one, 0.048 above naive on
    digits-10 (under the ladder's step of 0.061), is a springboard from which one lucky shown
    group flip gained 0.037 (README "The scorer"). Binary tasks train identically."""
    loss = config.get("loss") or {}
    if not loss.get("aux_coef"):
        return config
    return {**config, "loss": {**loss, "hardening": BALANCED}}


def parse_method(name: str | Method) -> Method:
    """A student method by name or `.json` configuration file; anything else lists the valid
    names."""
    if isinstance(name, Method):
        return name
    if name.endswith(CONFIG_SUFFIX):
        return _from_file(Path(name))
    if name not in METHODS:
        valid = ", ".join((*METHODS, *BASELINES))
        raise UnknownMethodError(
            f"unknown method {name!r}; valid methods: {valid}, or a configuration file "
            f"CONFIG{CONFIG_SUFFIX}"
        )
    from aar.bench._train import method_space

    base, _, suffix = name.partition("+")
    config = method_space().FAMILY_CONFIGS[base]
    if suffix == "es":
        config = config.model_copy(
            update={"training": config.training.model_copy(update={"early_stopping": True})}
        )
    return Method(name=name, config=config.model_dump())


def _from_file(path: Path) -> Method:
    """A `MethodConfig` JSON file; one clear error for a missing, unreadable or invalid one."""
    from aar.bench._train import method_space

    name = path.name[: -len(CONFIG_SUFFIX)]
    if not name:
        raise UnknownMethodError(f"{path}: a configuration is named after its file; name it")
    if name in (*METHODS, *BASELINES):
        raise UnknownMethodError(
            f"{path}: a configuration is named after its file, and {name!r} is a built-in "
            "name; rename the file"
        )
    if not path.is_file():
        raise UnknownMethodError(f"{path}: no such configuration file (or not a regular file)")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise UnknownMethodError(
                f"{path}: {size} bytes is not a method configuration (at most "
                f"{MAX_CONFIG_BYTES} bytes)"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        config = method_space().MethodConfig.model_validate(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnknownMethodError(f"{path}: not a readable JSON configuration ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise UnknownMethodError(f"{path}: not a valid method configuration: {problems}") from None
    return Method(name=name, config=config.model_dump(), source=str(path))


def parse_methods(names: Sequence[str | Method]) -> list[Method]:
    """Student methods in order, without duplicates; baseline names are accepted and skipped."""
    out: list[Method] = []
    for name in names:
        if isinstance(name, str) and name in BASELINES:
            continue
        method = parse_method(name)
        if any(m.name == method.name and m.config != method.config for m in out):
            raise UnknownMethodError(f"two different methods are named {method.name!r}")
        if method not in out:
            out.append(method)
    return out
