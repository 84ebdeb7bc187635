"""Textual counts a callback's parameters once per function, partials included.

Before invoking a callback (a timer's, `call_later`'s, `call_after_refresh`'s, a message
handler's) Textual counts its parameters and caches the count on the function. A
`functools.partial` is new each time, and its count was not cached: every call built the
wrapped function's `inspect.Signature` again. A reply of 4,000 tokens at 100 tokens/s did
that about 1,400 times (its flushes, the log's `_virtualize`, every mount's style update).
Here a partial's count is its function's (cached as Textual caches it) less what the
partial fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import textual._callback as callback_module
import textual.reactive as reactive_module

_textual_count = callback_module.count_parameters


def count_parameters(func: Callable[..., Any]) -> int:
    """`textual._callback.count_parameters`, counting a partial's function once."""
    if isinstance(func, partial):
        return count_parameters(func.func) - len(func.args) - len(func.keywords)
    return _textual_count(func)


def count_partials_once() -> None:
    """Install `count_parameters` where Textual looks it up (idempotent)."""
    callback_module.count_parameters = count_parameters
    reactive_module.count_parameters = count_parameters  # type: ignore[attr-defined]
