"""TableBlock: a markdown table drawn by one widget. What it shows (header, rule, cells,
wrapping, CJK, alignment), that hostile tables render, that it grows in place, and that it
mounts one widget where Textual's table mounts one per cell."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownTable

from tui.app.widgets.table_block import TableBlock, TableVisual, fit_columns


class TableMarkdown(Markdown):
    BLOCKS = {**Markdown.BLOCKS, "table_open": TableBlock}


class TableApp(App[None]):
    def __init__(self, markdown: str, *, stock: bool = False) -> None:
        super().__init__()
        self.markdown = markdown
        self.stock = stock

    def compose(self) -> ComposeResult:
        yield (Markdown if self.stock else TableMarkdown)(self.markdown)


def table(headers: list[str], rows: list[list[str]], rule: str | None = None) -> str:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append(rule or "|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


PRICES = table(
    ["Model", "Context", "Price", "Notes"],
    [
        ["**gpt-4o**", "128k", "$2.50", "Fast, multimodal, `tools` supported"],
        [
            "claude",
            "200k",
            "$3.00",
            "Great at code; see [the docs](https://example.com) for details on prompt "
            "caching, batch pricing and the limits that apply to long contexts",
        ],
        ["*tiny*", "4k", "free", ""],
    ],
    rule="|:---|:---:|---:|---|",
)


def block_of(app: App[None]) -> TableBlock:
    return app.query_one(TableBlock)


def lines_of(block: TableBlock) -> list[str]:
    """What the widget shows, line by line (trailing blanks dropped)."""
    region = Region(0, 0, block.region.width, block.region.height)
    return [strip.text.rstrip() for strip in block.render_lines(region)]


def separator_columns(line: str) -> list[int]:
    """Screen columns (cells, not characters) of the column separators in a line."""
    return [cell_len(line[:index]) for index, char in enumerate(line) if char in "│┼"]


async def show(markdown: str, size: tuple[int, int] = (120, 40)) -> tuple[TableApp, list[str]]:
    app = TableApp(markdown)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        block = block_of(app)
        return app, lines_of(block)


async def test_header_rule_and_cells() -> None:
    app = TableApp(PRICES)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        block = block_of(app)
        lines = lines_of(block)
        assert not block.children
        assert len(lines) == 1 + 1 + 3 == block.size.height
        header, rule, *rows = lines
        assert header.startswith(" Model ")
        assert [cell.strip() for cell in header.split("│")] == [
            "Model",
            "Context",
            "Price",
            "Notes",
        ]
        assert set(rule.strip()) == {"─", "┼"} and rule.count("┼") == 3
        assert separator_columns(rule) == separator_columns(header)
        for row in rows:
            assert separator_columns(row) == separator_columns(header)
        assert "tools supported" in rows[0]  # inline code, bold: text only, no markup
        assert "**" not in rows[0] and "`" not in rows[0]
        assert "the docs for details" in rows[1]


async def test_alignment_from_the_rule() -> None:
    _app, lines = await show(PRICES, size=(200, 40))
    header, _rule, gpt, _claude, tiny = lines
    context = [row.split("│")[1] for row in (header, gpt, tiny)]
    price = [row.split("│")[2] for row in (header, gpt, tiny)]
    assert context[1] == "  128k   "  # centred in "Context" (7) plus padding
    assert context[2] == "   4k    "
    assert price[1].endswith("$2.50 ") and price[2].endswith(" free ")
    assert tiny.split("│")[0] == " tiny   "  # left


async def test_inline_styles_and_links_survive() -> None:
    app = TableApp(PRICES)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        block = block_of(app)
        strips = block.render_lines(Region(0, 0, block.region.width, block.region.height))
        segments = [segment for strip in strips for segment in strip]
        bold = [s for s in segments if s.text.strip() == "gpt-4o"]
        assert bold and bold[0].style is not None and bold[0].style.bold
        link = [s for s in segments if "docs" in s.text]
        assert link and link[0].style is not None
        assert "link(" in str(link[0].style.meta.get("@click", ""))
        header = [s for s in segments if s.text.strip() == "Model"]
        assert header and header[0].style is not None and header[0].style.bold


@pytest.mark.parametrize("width", [80, 40])
async def test_wraps_within_columns(width: int) -> None:
    app = TableApp(PRICES)
    async with app.run_test(size=(width, 60)) as pilot:
        await pilot.pause()
        block = block_of(app)
        lines = lines_of(block)
        assert block.size.width <= width
        assert all(cell_len(line) <= block.size.width for line in lines)
        assert len(lines) > 5  # the long note wraps: its row is several lines tall
        assert block.size.height == len(lines)
        header = lines[0]
        for line in lines[1:]:
            assert separator_columns(line) == separator_columns(header)
        notes = "".join(line.split("│")[3].strip() for line in lines[2:] if line.count("│") == 3)
        assert "thatapplytolongcontexts" in notes.replace(" ", "")  # words may break at 40


async def test_narrow_columns_keep_words_when_they_can() -> None:
    _app, lines = await show(PRICES, size=(60, 40))
    words = {word for line in lines for cell in line.split("│") for word in cell.split()}
    assert {"multimodal,", "supported", "contexts", "caching,"} <= words


async def test_cjk_is_double_width() -> None:
    markdown = table(["名前", "説明"], [["中文表格", "ascii"], ["a", "双宽字符测试"]])
    _app, lines = await show(markdown)
    header = separator_columns(lines[0])
    assert header == [cell_len(" 中文表格 ")]
    assert all(separator_columns(line) == header for line in lines)


async def test_cjk_wraps_at_40_columns() -> None:
    markdown = table(["列", "说明"], [["中文", "双宽字符测试，" * 12]])
    _app, lines = await show(markdown, size=(40, 40))
    assert len(lines) > 4
    assert all(cell_len(line) <= 40 for line in lines)
    assert all(separator_columns(line) == separator_columns(lines[0]) for line in lines)


async def test_header_only_and_empty_rows() -> None:
    _app, lines = await show(table(["a", "b"], []))
    assert lines == [" a │ b", "───┼───"]
    _app, lines = await show(table(["a", "b"], [["", ""], ["", ""]]))
    assert lines[2:] == ["   │", "   │"]


async def test_hostile_tables_render() -> None:
    giant = "x" * 50_000
    _app, lines = await show(table(["a", "b"], [[giant, "y"]]), size=(80, 40))
    assert all(cell_len(line) <= 80 for line in lines)
    assert sum(line.count("x") for line in lines) == 50_000

    wide = table([f"h{i}" for i in range(60)], [[str(i) for i in range(60)]])
    _app, lines = await show(wide, size=(80, 40))
    assert len(lines) >= 3
    assert all(cell_len(line) <= 80 for line in lines)


def test_ragged_rows() -> None:
    visual = TableVisual(
        [Content("a"), Content("b")],
        [[Content("1")], [Content("1"), Content("2"), Content("3")], []],
    )
    lines = [line.plain for line in visual.lines(40)]
    assert lines[0].rstrip() == " a │ b │"
    assert lines[2].rstrip() == " 1 │   │"
    assert lines[3].rstrip() == " 1 │ 2 │ 3"
    assert len(lines) == 5  # header, rule, three rows (the empty one a blank line)
    assert TableVisual([], []).lines(40) == []


@pytest.mark.parametrize("columns", [1, 2, 10, 60])
def test_never_wider_than_the_width(columns: int) -> None:
    headers = [Content(f"header {i}") for i in range(columns)]
    rows = [[Content(f"中文 cell {i} " * (i % 3 + 1)) for i in range(columns)] for _ in range(3)]
    visual = TableVisual(headers, rows)
    for width in range(1, 100):
        lines = visual.lines(width)
        assert lines
        assert all(line.cell_length <= width for line in lines), width
        assert visual.get_height({}, width) == len(lines)


def test_control_characters_become_spaces() -> None:
    visual = TableVisual([Content("a\tb")], [[Content("c\x1bd\ne")]])
    assert [line.plain.rstrip() for line in visual.lines(20)][::2] == [" a b", " c d e"]


def test_fit_columns_shrinks_the_widest_first() -> None:
    assert fit_columns([5, 10, 40], [5, 5, 5], 100) == [5, 10, 40]
    assert fit_columns([5, 10, 40], [5, 5, 5], 35) == [5, 10, 20]
    assert fit_columns([5, 10, 40], [5, 8, 20], 33) == [5, 8, 20]
    assert sum(fit_columns([30, 30, 30], [30, 30, 30], 40)) == 40  # words must break
    assert fit_columns([3, 3, 3], [3, 3, 3], 2) == [1, 1, 1]


async def test_update_from_adds_rows_and_grows() -> None:
    app = TableApp(table(["a", "b"], [["1", "2"]]))
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        markdown = app.query_one(TableMarkdown)
        block = block_of(app)
        assert block.size.height == 3
        (fresh,) = markdown._build_from_source(
            table(["a", "b"], [["1", "2"], ["3", "4"], ["5", "6"]])
        )
        assert isinstance(fresh, MarkdownTable)
        block.update_from(fresh)
        await pilot.pause()
        assert block.size.height == 5
        assert lines_of(block)[-1] == " 5 │ 6"
        assert block_of(app) is block and not block.children

        # Same height: the text changes in place.
        (fresh,) = markdown._build_from_source(
            table(["a", "b"], [["1", "2"], ["3", "4"], ["7", "8"]])
        )
        waiting = set(block._repaint_regions)  # (Textual's, from the resize)
        block.update_from(fresh)
        # Only the row that changed is repainted (its line rendered already).
        added = block._repaint_regions - waiting
        assert [(region.y, region.height) for region in added] == [(4, 1)]
        await pilot.pause()
        assert lines_of(block)[-1] == " 7 │ 8"


async def test_update_from_a_stock_table() -> None:
    app = TableApp(table(["a", "b"], [["1", "2"]]))
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        block = block_of(app)
        stock = Markdown()
        (fresh,) = list(stock._parse_markdown(_tokens(table(["a", "b"], [["1", "2"], ["3", "4"]]))))
        assert type(fresh) is MarkdownTable
        block.update_from(fresh)
        await pilot.pause()
        assert block.size.height == 4


def _tokens(markdown: str) -> list[object]:
    from markdown_it import MarkdownIt

    return list(MarkdownIt("gfm-like").parse(markdown))


async def test_markdown_append_updates_the_table_in_place() -> None:
    """Textual's own streaming path (`Markdown.append` → `_update_from_block`)."""
    app = TableApp("")
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        markdown = app.query_one(TableMarkdown)
        await markdown.append(table(["a", "b"], [["1", "2"]]))
        await pilot.pause()
        block = block_of(app)
        assert block.size.height == 3
        await markdown.append("| 3 | 4 |\n")
        await pilot.pause()
        assert block_of(app) is block
        assert lines_of(block)[-1] == " 3 │ 4"
        assert block.size.height == 4


async def test_theme_switch_repaints_the_header() -> None:
    app = TableApp(table(["Head", "b"], [["1", "2"]]))
    async with app.run_test(size=(80, 40)) as pilot:
        app.theme = "textual-dark"
        await pilot.pause()
        block = block_of(app)

        def header_colour() -> str:
            strip = block.render_lines(Region(0, 0, block.region.width, 1))[0]
            (segment,) = [s for s in strip if s.text.strip() == "Head"]
            assert segment.style is not None and segment.style.color is not None
            return segment.style.color.get_truecolor().hex

        assert header_colour() == app.current_theme.primary.lower()
        app.theme = "gruvbox"
        await pilot.pause()
        assert header_colour() == app.current_theme.primary.lower()


async def test_one_widget_where_textual_mounts_one_per_cell() -> None:
    markdown = table(
        [f"h{i}" for i in range(4)], [[f"r{r}c{c}" for c in range(4)] for r in range(10)]
    )
    counts: dict[bool, int] = {}
    for stock in (False, True):
        app = TableApp(markdown, stock=stock)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            table_widget = app.query_one(MarkdownTable)
            counts[stock] = 1 + len(list(table_widget.walk_children()))
            assert isinstance(table_widget, TableBlock) is not stock
    assert counts[False] == 1
    assert counts[True] > 44  # a grid, and a Static per header and cell


def test_wrapped_header_cells_sit_on_the_rule() -> None:
    visual = TableVisual(
        [Content("Model"), Content("Price (in/out)")],
        [[Content("a"), Content("$2.50 / $10.00")]],
        ["left", "right"],
    )
    assert [line.plain.rstrip() for line in visual.lines(20)] == [
        "       │      Price",
        " Model │   (in/out)",
        "───────┼────────────",
        " a     │    $2.50 /",
        "       │     $10.00",
    ]


async def test_update_from_sees_style_only_changes() -> None:
    app = TableApp(table(["a"], [["[x](https://one.example)"]]))
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        markdown = app.query_one(TableMarkdown)
        block = block_of(app)
        visual = block.table_visual
        (same,) = markdown._build_from_source(table(["a"], [["[x](https://one.example)"]]))
        assert isinstance(same, MarkdownTable)
        block.update_from(same)
        assert block.table_visual is visual  # nothing changed: nothing to redo
        (moved,) = markdown._build_from_source(table(["a"], [["[x](https://two.example)"]]))
        assert isinstance(moved, MarkdownTable)
        block.update_from(moved)
        assert block.table_visual is not visual
        await pilot.pause()
        strips = block.render_lines(Region(0, 0, block.region.width, block.region.height))
        (link,) = [s for strip in strips for s in strip if s.text.strip() == "x"]
        assert link.style is not None and "two.example" in str(link.style.meta)


async def test_a_growing_tail_table_lays_out_only_when_it_outgrows_its_slack() -> None:
    from tui.app.widgets.message_view import _grow_in_steps, _stop_growing

    app = TableApp(table(["a", "b"], [["1", "2"]]))
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        markdown = app.query_one(TableMarkdown)
        block = block_of(app)

        def table_lines() -> int:
            return len(block.table_visual.lines(block.size.width))

        _grow_in_steps(block)  # as the streaming reply does to its tail
        block.refresh(layout=True)
        await pilot.pause()
        held = block.size.height
        assert held > table_lines() == 3  # blank lines held below the table

        rows = [["1", "2"]]
        while table_lines() < held:  # a row is one more line
            rows.append([str(len(rows)), "x"])
            (fresh,) = markdown._build_from_source(table(["a", "b"], rows))
            block.update_from(fresh)
            assert not block._layout_required  # the new row fits in the held lines
            await pilot.pause()
            assert block.size.height == held
            assert lines_of(block)[table_lines() - 1] == f" {len(rows) - 1} │ x"
        assert len(rows) > 1

        rows.append(["last", "row"])
        (fresh,) = markdown._build_from_source(table(["a", "b"], rows))
        block.update_from(fresh)
        assert block._layout_required  # outgrown: laid out, holding more lines again
        await pilot.pause()
        assert block.size.height > held
        assert lines_of(block)[table_lines() - 1] == " last │ row"

        _stop_growing(block)  # finished: exactly its lines
        await pilot.pause()
        assert block.size.height == table_lines()
