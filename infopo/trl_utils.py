"""Helpers for subclassing TRL's trainers, shared by every infopo trainer and method mixin."""

from __future__ import annotations

import inspect


def trl_constructor_arguments(cls, args: tuple, kwargs: dict) -> dict:
    """``args``/``kwargs`` bound to the constructor of the TRL trainer under ``cls``'s mixins, as keywords."""
    trl_class = next(
        klass for klass in cls.__mro__ if klass.__module__.startswith("trl.") and "__init__" in klass.__dict__
    )
    arguments = inspect.signature(trl_class.__init__).bind(None, *args, **kwargs).arguments
    arguments.pop(next(iter(arguments)))  # self
    return dict(arguments)
