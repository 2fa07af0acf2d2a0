"""Schemathesis builds each operation's test when the test runs, not when pytest collects it.

Its pytest plugin builds the Hypothesis test of every operation while collecting, and the
coverage phase's cases are computed in that build: some 20 s of CPU for this document, paid
by every run that collects tests/fuzz (each xdist worker, ``--collect-only``, ``-m unit`` from
the root), whether or not a fuzz test runs. Here the plugin gets, for each operation, a
stand-in with the built test's signature (what pytest reads its fixtures from) that builds
the real test on its first call. The cases, seeds and checks are the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import schemathesis.pytest._test_builder as test_builder

_build_now = test_builder.build_operation_test


def _build_on_first_call(*, test_func: Callable[..., Any], given_kwargs: dict[str, Any], **rest: Any) -> Callable:
    built: list[Callable[..., Any]] = []

    def operation_test(*args: Any, **kwargs: Any) -> Any:
        if not built:
            built.append(_build_now(test_func=test_func, given_kwargs=given_kwargs, **rest))
            # The plugin reads what the build found (e.g. unsatisfiable examples) from the test object.
            operation_test.__dict__.update(
                {key: value for key, value in built[0].__dict__.items() if not key.startswith("__")}
            )
        return built[0](*args, **kwargs)

    # Hypothesis' test takes the pytest fixtures: every parameter but the generated ones.
    generated = {"case", *given_kwargs}
    signature = inspect.signature(test_func)
    operation_test.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for name, p in signature.parameters.items() if name not in generated]
    )
    operation_test.__name__ = test_func.__name__
    operation_test.__qualname__ = test_func.__qualname__
    operation_test.__module__ = test_func.__module__
    operation_test.__doc__ = test_func.__doc__
    return operation_test


test_builder.build_operation_test = _build_on_first_call
