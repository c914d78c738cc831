"""Student method names, parsed without importing torch (the CLI checks them first).

The methods themselves (the losses, batched training) are in `_methods.py`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from aar.bench._errors import UnknownMethodError

BASELINES = ("weak", "ceiling")
BASES = ("naive", "logconf", "bootstrap")
METHODS = (*BASES, *(f"{b}+es" for b in BASES))
DEFAULT_METHODS = ("naive", "logconf")
LOGCONF_AUX_COEF = 0.5


class Method(BaseModel):
    """A parsed student method name, e.g. 'logconf+es'."""

    model_config = ConfigDict(frozen=True)

    name: str
    base: str
    early_stopping: bool

    @property
    def aux_coef(self) -> float:
        return LOGCONF_AUX_COEF if self.base == "logconf" else 0.0


def parse_method(name: str) -> Method:
    """A student method by name; unknown names list the valid ones."""
    if name not in METHODS:
        valid = ", ".join((*METHODS, *BASELINES))
        raise UnknownMethodError(f"unknown method {name!r}; valid methods: {valid}")
    base, _, suffix = name.partition("+")
    return Method(name=name, base=base, early_stopping=suffix == "es")


def parse_methods(names: list[str] | tuple[str, ...]) -> list[Method]:
    """Student methods in order, without duplicates; baseline names are accepted and skipped."""
    out: list[Method] = []
    for name in names:
        if name in BASELINES:
            continue
        method = parse_method(name)
        if method not in out:
            out.append(method)
    return out
