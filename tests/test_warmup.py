"""The lexers warmed ahead of the first code block are the ones highlighting uses."""

from __future__ import annotations

from pygments.lexer import RegexLexer
from pygments.lexers import get_lexer_by_name

from tui.app.warmup import COMMON_LANGUAGES, warm_lexers


def test_the_common_lexers_are_prepared_once_on_a_thread() -> None:
    thread = warm_lexers()
    assert warm_lexers() is thread  # once per process
    thread.join(timeout=60)
    assert not thread.is_alive()
    prepared = [type(get_lexer_by_name(name)) for name in COMMON_LANGUAGES]
    regex_lexers = [cls for cls in prepared if issubclass(cls, RegexLexer)]
    assert len(regex_lexers) >= 4  # (JSON's lexer is written by hand: nothing to compile)
    for lexer_class in regex_lexers:
        assert "_tokens" in vars(lexer_class), lexer_class  # its rules are compiled
