"""Textual counts a callback's parameters once per function, partials included
(tui/app/callback_counts.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import textual._callback as callback_module

from tui.app import callback_counts


class _Owner:
    def none(self) -> None:
        pass

    def two(self, first: int, second: int) -> None:
        pass


def _free(first: int, second: int, third: int = 3) -> None:
    pass


def test_counts_are_textuals() -> None:
    owner = _Owner()
    cases: list[tuple[Any, int]] = [
        (owner.none, 0),
        (owner.two, 2),
        (_free, 3),
        (partial(owner.two, 1), 1),
        (partial(_free, 1, third=4), 1),
        (partial(partial(_free, 1), 2), 1),
        (lambda: None, 0),
    ]
    for func, expected in cases:
        assert callback_counts.count_parameters(func) == expected, func
        assert callback_counts._textual_count(func) == expected, func


def test_new_partials_of_one_method_build_its_signature_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    signature = callback_module.signature

    def counting(func: Any) -> Any:
        built.append(func)
        return signature(func)

    monkeypatch.setattr(callback_module, "signature", counting)
    owner = _Owner()
    for _ in range(5):  # Textual's own count: a signature for each new partial
        callback_counts._textual_count(partial(owner.two, 1))
    assert len(built) == 5
    built.clear()
    monkeypatch.setattr(callback_module, "count_parameters", callback_module.count_parameters)
    callback_counts.count_partials_once()
    for _ in range(5):
        assert callback_module.count_parameters(partial(owner.two, 1)) == 1
    assert len(built) <= 1
