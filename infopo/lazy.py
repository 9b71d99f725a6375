"""Lazy package attributes: names a package exports but imports only on first access (keeps ``import`` fast)."""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, namespace: dict, exports: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package`` that load each name of ``exports`` (name -> module) on first
    access and keep it in ``namespace`` (the package's globals), so the second access costs nothing."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
