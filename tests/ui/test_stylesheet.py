"""The remembering stylesheet styles every node exactly as Textual's own would."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.css.stylesheet import Stylesheet
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.server import FakeLLMServer
from tests.ui.conftest import MakeApp, wait_until
from tui.app.stylesheet import MemoStylesheet
from tui.app.widgets.message_log import MessageLog
from tui.app.widgets.message_view import MessageView
from tui.core.session import Session


def _styled(node: DOMNode) -> tuple[dict[str, Any], dict[str, dict[str, Any]], tuple[bool, ...]]:
    """What applying a stylesheet left on `node`: its rules, its component classes' rules
    and the flags Textual keeps for later restyling."""
    components = {name: dict(styles.base._rules) for name, styles in node._component_styles.items()}
    flags = (
        node._has_hover_style,
        node._has_focus_within,
        node._has_order_style,
        node._has_odd_or_even,
    )
    return dict(node.styles.base._rules), components, flags


def _assert_same_as_textual(memo: MemoStylesheet, root: DOMNode) -> int:
    """Apply both stylesheets to every node under `root`; they must agree. Returns how
    many nodes were compared."""
    plain = Stylesheet.copy(memo)  # Textual's own class, the same CSS
    plain.set_variables(memo._variables)
    plain.parse()
    nodes = list(root.walk_children(with_self=True))
    for node in nodes:
        memo.apply(node)
        ours = _styled(node)
        plain.apply(node)
        theirs = _styled(node)
        assert ours == theirs, f"{node!r} styled differently"
        memo.apply(node)
    return len(nodes)


async def _session_shown(app: App[None], pilot: Pilot[None]) -> tuple[MessageLog, MemoStylesheet]:
    """The log once the session's messages are in it, and the app's stylesheet."""
    log = app.screen.query_one(MessageLog)
    await wait_until(pilot, lambda: bool(log.views))
    memo = app.stylesheet
    assert isinstance(memo, MemoStylesheet)
    return log, memo


async def test_memo_styles_match_textual_through_focus_theme_and_disabling(
    make_app: MakeApp, seed_session: Session, lab_server: FakeLLMServer
) -> None:
    app = make_app(session=seed_session.session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        log, memo = await _session_shown(app, pilot)
        assert _assert_same_as_textual(memo, app.screen) > 100
        # The point of it: a session's many markdown blocks share a few stylings.
        blocks = [
            node
            for view in log.views
            for node in view.walk_children()
            if node._get_component_classes()
        ]
        assert len(blocks) > 20
        styles = [style for node in blocks for style in node._component_styles.values()]
        assert len({id(style) for style in styles}) < len(styles) / 4

        log.focus()
        await pilot.press("up")  # a message view takes the focus (`MessageView:focus`)
        await wait_until(pilot, lambda: isinstance(app.focused, MessageView))
        _assert_same_as_textual(memo, app.screen)

        await pilot.hover(MessageLog, offset=(10, 3))  # a message under the mouse
        app.screen.query_one(Input).disabled = True
        await pilot.pause()
        _assert_same_as_textual(memo, app.screen)

        rules_before = memo.rules
        app.theme = "textual-light"  # new variables: the rules are parsed again
        await pilot.pause()
        assert memo.rules is not rules_before
        _assert_same_as_textual(memo, app.screen)


class _NewKind(Static):
    """A widget class the app has not mounted before: its default CSS joins the rules."""

    DEFAULT_CSS = "_NewKind { height: 1; }"


class _Restyler(Static):
    """A new class whose (unscoped) default CSS changes how existing blocks look."""

    SCOPED_CSS = False
    DEFAULT_CSS = "MarkdownParagraph { text-style: italic; }"


async def test_a_new_widget_class_keeps_the_answers_its_css_does_not_touch(
    make_app: MakeApp, seed_session: Session, lab_server: FakeLLMServer
) -> None:
    app = make_app(session=seed_session.session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        _, memo = await _session_shown(app, pilot)
        _assert_same_as_textual(memo, app.screen)
        remembered = set(memo._applied)
        assert len(remembered) > 20

        rules_before = memo.rules
        await app.screen.mount(_NewKind("new"))
        assert memo.rules is not rules_before  # parsed again, with the new class's rule
        assert remembered <= set(memo._applied)  # and nothing was forgotten
        _assert_same_as_textual(memo, app.screen)

        paragraph = next(iter(app.screen.query("MarkdownParagraph")))
        assert "italic" not in str(paragraph.styles.text_style)
        await app.screen.mount(_Restyler("restyles paragraphs"))
        memo.apply(paragraph)  # its old answer names rules that are no longer all of them
        assert "italic" in str(paragraph.styles.text_style)
        _assert_same_as_textual(memo, app.screen)
