"""Code highlighting made ready while the first reply is awaited, not when it arrives.

Pygments prepares a lexer class on its first use: its rules are compiled into regular
expressions, ~35 ms for Python, ~20-30 for JavaScript and TypeScript. That used to fall on
the first code block of every app session, in the frame that showed it finished, or in the
middle of a fast reply's final render. Built on a thread when the first prompt goes out,
they are ready before the model's first words, as a rule. The thread only ever takes the
GIL in short turns (the compilation is Python code), so the screen keeps updating.
"""

from __future__ import annotations

import contextlib
import threading

COMMON_LANGUAGES = ("python", "bash", "javascript", "typescript", "json")
"""The languages a chat's code blocks are in most often."""

_thread: threading.Thread | None = None


def warm_lexers() -> threading.Thread:
    """Start preparing the common lexers (once per process); the thread, for tests."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_prepare, name="liu-warmup", daemon=True)
        _thread.start()
    return _thread


def _prepare() -> None:
    from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]

    for name in COMMON_LANGUAGES:
        with contextlib.suppress(Exception):  # a Pygments without it: highlighting copes
            get_lexer_by_name(name)
