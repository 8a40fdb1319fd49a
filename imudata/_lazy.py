"""A module imported on first attribute access, so ``imudata list`` / ``info`` / ``--help`` do not
pay for polars, scipy or pyarrow's compute kernels that only a converter needs when it runs."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for ``import NAME as alias``; the import happens at the first ``alias.attr``.

    Given the importing module's namespace and the alias, the first access also rebinds the
    alias to the real module, so later accesses cost nothing extra (hot loops included).
    """

    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any] | None = None, alias: str | None = None) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attr: str) -> Any:
        mod = importlib.import_module(self._name)
        if self._namespace is not None and self._alias and self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = mod
        return getattr(mod, attr)

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str, namespace: dict[str, Any] | None = None, alias: str | None = None) -> Any:
    """``np = lazy("numpy", globals(), "np")`` instead of ``import numpy as np`` (typed as Any)."""
    return LazyModule(name, namespace, alias)
