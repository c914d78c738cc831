"""Student method names, parsed without importing torch (the CLI checks them first).

A bench method is a family of the shared method library (`sandbox/kernel/aar_methods`, the
code the session's kernel runs too) at fixed parameters, optionally with early stopping.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from aar.bench._errors import UnknownMethodError

BASELINES = ("weak", "ceiling")
BASES = ("naive", "logconf", "bootstrap")
METHODS = (*BASES, *(f"{b}+es" for b in BASES))
DEFAULT_METHODS = ("naive", "logconf")
LOGCONF_AUX_COEF = 0.5
BOOTSTRAP_STAGES = 2
"""A linear model, then an MLP of width 16, before the full student."""


class Method(BaseModel):
    """A parsed student method name, e.g. 'logconf+es'."""

    model_config = ConfigDict(frozen=True)

    name: str
    base: str
    early_stopping: bool

    @property
    def aux_coef(self) -> float:
        return LOGCONF_AUX_COEF if self.base == "logconf" else 0.0

    @property
    def params(self) -> dict[str, float]:
        """The library family's parameters (the family is `base`)."""
        if self.base == "logconf":
            return {"aux_coef": LOGCONF_AUX_COEF}
        if self.base == "bootstrap":
            return {"stages": BOOTSTRAP_STAGES}
        return {}


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
