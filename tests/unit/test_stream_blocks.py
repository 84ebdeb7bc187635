"""The streaming block splitter: fed in any chunking, it splits exactly as the whole text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.app.widgets.stream_blocks import (
    BlockSplitter,
    Kind,
    estimate_height,
    sanitize,
    split_blocks,
)

SAMPLE = """# Title

Some *text* with `code`
that continues.

- one
- two
  nested line

  - nested item
- three

1. first
2. second

| a | b |
|---|---|
| 1 | 2 |

```python
def f():

    return 1
```

> quoted
lazy line

    indented code

    more code
Setext
---
***
~~~
open fence with ``` inside
~~~~
trailing 中文 段落
"""

LINES = [
    "",
    "",
    "text line",
    "more text",
    "# heading",
    "- item",
    "  continued",
    "    deep",
    "1. ordered",
    "2) other",
    "```",
    "```py",
    "~~~",
    "> quote",
    "---",
    "===",
    "* * *",
    "| a | b |",
    "|---|---|",
    "\tTabbed",
    "中文",
    "-",
    "  - nested",
]


def _chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(text)]:
        out.append(text[prev:p])
        prev = p
    return out


def _incremental(chunks: list[str]) -> list[tuple[Kind, str]]:
    s = BlockSplitter()
    for c in chunks:
        s.feed(c)
    s.close()
    return [(b.kind, b.source) for b in s.finished]


def test_sample_kinds() -> None:
    kinds = [b.kind for b in split_blocks(SAMPLE)]
    assert kinds == [
        Kind.HEADING,
        Kind.PARAGRAPH,
        Kind.ITEM,
        Kind.ITEM,
        Kind.ITEM,
        Kind.ITEM,
        Kind.ITEM,
        Kind.PARAGRAPH,
        Kind.FENCE,
        Kind.QUOTE,
        Kind.CODE,
        Kind.PARAGRAPH,
        Kind.RULE,
        Kind.FENCE,
        Kind.PARAGRAPH,
    ]
    blocks = split_blocks(SAMPLE)
    assert "nested item" in blocks[3].source
    assert blocks[8].source.endswith("```\n") and "return 1" in blocks[8].source
    assert blocks[11].source == "Setext\n---\n"


def test_blocks_cover_every_non_blank_line() -> None:
    joined = "".join(b.source for b in split_blocks(SAMPLE))
    assert [ln for ln in joined.splitlines() if ln.strip()] == [
        ln for ln in SAMPLE.splitlines() if ln.strip()
    ]


def test_open_fence_is_tail_until_closed() -> None:
    s = BlockSplitter()
    s.feed("para\n\n```py\nx = 1\n")
    assert [b.kind for b in s.finished] == [Kind.PARAGRAPH]
    assert s.open_kind is Kind.FENCE
    assert s.tail() == "```py\nx = 1\n"
    s.feed("y = 2\n``")
    assert s.tail().endswith("y = 2\n``")
    s.feed("`\n")
    assert [b.kind for b in s.finished] == [Kind.PARAGRAPH, Kind.FENCE]
    assert s.tail() == ""


def test_feed_reports_finished_count() -> None:
    s = BlockSplitter()
    assert s.feed("a\n\nb\n\nc") == 2
    assert s.close() == 1


def test_sanitize_makes_controls_visible() -> None:
    out = sanitize("a\x1b[31mred\x07\r\n\tb\x9b")
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\r" not in out
    assert out == "a\u241b[31mred\u2407\n\tb\ufffd"


@given(st.text(alphabet=st.characters(max_codepoint=0x2500)))
def test_sanitize_is_the_translation(text: str) -> None:
    from tui.app.widgets.stream_blocks import _CONTROL_TABLE

    assert sanitize(text) == text.translate(_CONTROL_TABLE)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(LINES), max_size=40),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    st.booleans(),
)
def test_incremental_equals_whole(lines: list[str], cuts: list[int], final_nl: bool) -> None:
    text = "\n".join(lines) + ("\n" if final_nl else "")
    whole = [(b.kind, b.source) for b in split_blocks(text)]
    assert _incremental(_chunked(text, cuts)) == whole
    assert _incremental(list(text)) == whole


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_incremental_equals_whole_any_text(text: str, cuts: list[int]) -> None:
    whole = [(b.kind, b.source) for b in split_blocks(text)]
    assert _incremental(_chunked(text, cuts)) == whole


def test_sample_in_every_chunk_size() -> None:
    whole = [(b.kind, b.source) for b in split_blocks(SAMPLE)]
    for size in (1, 2, 3, 7, 64):
        chunks = [SAMPLE[i : i + size] for i in range(0, len(SAMPLE), size)]
        assert _incremental(chunks) == whole


def test_estimated_heights_are_roughly_right() -> None:
    """Cold blocks hold about their drawn height: wrapped text, fences, tables, gaps."""
    para, fence, table, heading = split_blocks(
        ("word " * 60).strip()
        + "\n\n```py\n"
        + "x = 1\n" * 10
        + "```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n## Title\n"
    )
    assert estimate_height(para, 100) == 5  # 300 cells wrap to 4 lines, and a gap
    assert estimate_height(para, 1000) == 2
    assert estimate_height(fence, 100) == 13  # 10 lines, padding, gap
    assert estimate_height(table, 100) == 8  # 3 rows, rules between, borders, gap
    assert estimate_height(heading, 100) == 3
