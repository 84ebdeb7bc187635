"""LiuApp: the full-screen chat client. `run(args)` is what `liu` with no subcommand calls.

Start-up stays quick: the engine's heavy parts (httpx, provider wires, pricing data) are
imported when first used, and the session list reads its rows from the index a page at a
time. Themes are TOML files (the repo's `themes/`, shipped in the wheel as `tui/themes`,
and the user's `<config dir>/themes`); a broken one is a warning, never a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.theme import Theme

import tui
from tui import gc_tuning, paths
from tui.app.callback_counts import count_partials_once
from tui.app.clipboard import clipboard_sequence
from tui.app.fewer_layouts import skip_virtual_size_layouts
from tui.app.partial_paint import paint_changed_rows_only
from tui.app.screens.first_run import LOCAL_PORTS, FirstRunScreen
from tui.app.stylesheet import MemoStylesheet
from tui.config import Settings
from tui.core.errors import ConfigError, LiuError
from tui.core.library import Library

if TYPE_CHECKING:
    import httpx

    from tui.app.screens.chat import ChatScreen
    from tui.app.widgets.input_bar import Drafts
    from tui.core.errors import ProviderError
    from tui.providers.retry import RetryPolicy

LOW_BANDWIDTH_THEME = "liu-ansi"
LOW_BANDWIDTH_FPS = 15
EXIT_OK, EXIT_USAGE = 0, 2


# ---------------------------------------------------------------------------- themes


class ThemeFileError(LiuError):
    pass


_THEME_FIELDS = {f.name for f in fields(Theme)}


def shipped_themes_dir() -> Path:
    """`tui/themes` in a wheel; the repo's `themes/` in an editable install."""
    package = Path(tui.__file__).resolve().parent
    inside = package / "themes"
    return inside if inside.is_dir() else package.parent / "themes"


def user_themes_dir() -> Path:
    return paths.config_dir() / "themes"


def load_theme_file(path: Path) -> Theme:
    """One Textual Theme from a TOML file; ThemeFileError says what is wrong with it."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ThemeFileError(f"{path}: {e}") from None
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        raise ThemeFileError(f"{path}: unknown key {unknown[0]!r}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ThemeFileError(f"{path}: a theme needs a name")
    if not isinstance(data.get("primary"), str):
        raise ThemeFileError(f"{path}: a theme needs a primary colour")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError(f"{path}: [variables] must map names to colour strings")
    if data.get("ansi"):
        # Textual's own stylesheets use variables that only its ansi themes define
        # ($ansi-background, ...): a terminal-palette theme inherits them unless it sets them.
        from textual.theme import BUILTIN_THEMES

        base = BUILTIN_THEMES["ansi-dark" if data.get("dark", True) else "ansi-light"]
        data["variables"] = {**base.variables, **variables}
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()  # a bad colour is found now, not on switching
    except Exception as e:
        raise ThemeFileError(f"{path}: {e}") from None
    return theme


def load_themes(folders: Iterable[Path]) -> tuple[list[Theme], list[str]]:
    """(themes, warnings) from every *.toml in the folders; later folders win on a name."""
    themes: dict[str, Theme] = {}
    warnings: list[str] = []
    for folder in folders:
        try:
            files = sorted(folder.glob("*.toml"))
        except OSError:
            continue
        for path in files:
            try:
                theme = load_theme_file(path)
            except ThemeFileError as e:
                warnings.append(str(e))
                continue
            themes[theme.name] = theme
    return list(themes.values()), warnings


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    help: str
    action: str  # run on the app: "screen.switch_model", "export('md')", ...


PALETTE: tuple[PaletteCommand, ...] = (
    PaletteCommand(
        "Switch model", "Pick the model for the next reply (Ctrl+O)", "screen.switch_model"
    ),
    PaletteCommand("New session", "Start a new session (Ctrl+N)", "screen.new_session"),
    PaletteCommand(
        "Toggle session list", "Show or hide the sessions (Ctrl+S)", "screen.toggle_sessions"
    ),
    PaletteCommand(
        "Search sessions", "Filter the sessions by title and text (Ctrl+F)", "screen.search"
    ),
    PaletteCommand(
        "Export session as markdown", "Write this session to a .md file here", "export('md')"
    ),
    PaletteCommand(
        "Export session as JSON", "Write this session to a .json file here", "export('json')"
    ),
    PaletteCommand(
        "Continue the reply",
        "Ask the model to go on after a stop or a failure (Ctrl+G)",
        "screen.continue_reply",
    ),
    PaletteCommand(
        "Regenerate the last reply",
        "Replace the last reply with a new one (Ctrl+R)",
        "screen.regenerate",
    ),
    PaletteCommand("Copy the message", "Copy the focused (or last) reply (Ctrl+Y)", "screen.copy"),
    PaletteCommand("Undo delete", "Bring back the session deleted last", "undo_delete"),
)


class LiuCommands(Provider):
    """liu's own commands in the palette; the theme picker is Textual's."""

    def _run(self, action: str) -> Callable[[], Any]:
        async def run() -> None:
            await self.app.run_action(action)

        return run

    async def discover(self) -> Hits:
        for command in PALETTE:
            yield DiscoveryHit(command.name, self._run(command.action), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in PALETTE:
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.name),
                    self._run(command.action),
                    help=command.help,
                )


# ---------------------------------------------------------------------------- keys


def teach_parser_alt_enter() -> None:
    """Report ESC CR (what most terminals and tmux send for Alt+Enter) as `alt+enter`.

    Textual 8.2 maps it to plain `enter`, so Alt+Enter would send a half-written prompt
    instead of breaking the line. Kitty-protocol terminals report alt+enter already.
    """
    from textual import _xterm_parser, events

    parser = _xterm_parser.XTermParser
    original = parser._sequence_to_key_events
    if getattr(original, "_liu_alt_enter", False):
        return

    def sequence_to_key_events(
        self: _xterm_parser.XTermParser, sequence: str, alt: bool = False
    ) -> Iterable[events.Key]:
        if sequence == "\x1b\r" or (alt and sequence == "\r"):
            yield events.Key("alt+enter", None)
            return
        yield from original(self, sequence, alt)

    sequence_to_key_events._liu_alt_enter = True  # type: ignore[attr-defined]
    parser._sequence_to_key_events = sequence_to_key_events  # type: ignore[method-assign]


# ---------------------------------------------------------------------------- the app


class LiuApp(App[int]):
    CSS_PATH = "liu.tcss"
    TITLE = "liu"
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {LiuCommands}
    BINDINGS: ClassVar[list[Any]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", show=False, priority=True),
        Binding(
            "ctrl+p", "command_palette", "Commands", id="command_palette", show=False,
            priority=True,
        ),
        Binding("ctrl+c", "help_quit", show=False, system=True, id="help_quit"),
    ]  # fmt: skip

    def get_theme(self, theme_name: str) -> Theme | None:
        """Textual's, without copying every registered theme on each call: Textual asks
        for the current theme once per line it renders (5% of a streaming reply's CPU)."""
        themes = self._registered_themes
        for name in theme_name.split(","):
            theme = themes.get(name.strip())
            if theme is not None:
                return theme
        return None

    def __init__(
        self,
        settings: Settings,
        *,
        library: Library | None = None,
        model: str | None = None,
        session: str | None = None,
        new: bool = False,
        low_bandwidth: bool = False,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        local_ports: tuple[int, ...] = LOCAL_PORTS,
        theme_folders: list[Path] | None = None,
    ) -> None:
        super().__init__()
        # Nothing has read CSS into Textual's stylesheet yet: swap in the remembering one.
        self.stylesheet = MemoStylesheet(variables=self.stylesheet._variables)
        self.settings = settings
        self._library = library
        self.model_override = model or None
        self.start_session = session
        self.start_new = new
        self.low_bandwidth = low_bandwidth or settings.low_bandwidth
        self.clock: Callable[[], datetime] = clock or datetime.now
        self.monotonic: Callable[[], float] = monotonic or time.monotonic
        self.local_ports = local_ports
        self.theme_folders = (
            theme_folders
            if theme_folders is not None
            else [shipped_themes_dir(), user_themes_dir()]
        )
        self.last_trashed: str | None = None
        self.retry_sleep: Callable[[float], Any] | None = None  # tests: no real waiting
        self._client: httpx.AsyncClient | None = None
        self._client_lock = threading.Lock()  # built on a thread, or at first use
        self._client_thread: threading.Thread | None = None
        self._drafts: Drafts | None = None
        self._theme_ready = False
        self._theme_warnings: list[str] = []
        self._signalled: int | None = None
        self._start_theme = "textual-dark"
        teach_parser_alt_enter()
        skip_virtual_size_layouts()
        paint_changed_rows_only()
        count_partials_once()
        self._install_themes()
        gc_tuning.tune()  # `liu` did already; tests and benchmarks build the app directly
        gc_tuning.freeze_startup()

    # ------------------------------------------------------------ engine access

    @property
    def library(self) -> Library:
        if self._library is None:
            self._library = Library.open()
        return self._library

    @property
    def drafts(self) -> Drafts:
        if self._drafts is None:
            from tui.app.widgets.input_bar import Drafts

            self._drafts = Drafts(paths.data_dir() / "drafts.json")
        return self._drafts

    def http_client(self) -> httpx.AsyncClient:
        """One client for every request the app makes (replies, model lists)."""
        with self._client_lock:
            if self._client is None:
                import httpx

                from tui.providers.threaded import async_client

                self._client = async_client(timeout=httpx.Timeout(30.0, read=None))
            return self._client

    def prepare_http_client(self) -> threading.Thread | None:
        """Build the client (`_prepare_first_reply`) on a thread while the first prompt is
        typed, not when it is sent: importing httpx and loading the CA certificates took
        ~0.1 s of the first reply's wait (0.21-0.26 s from Enter to the first token, from
        a local server, where the next prompt took 0.04). Once per app; None once started
        or built."""
        if self._client is not None or self._client_thread is not None:
            return None
        self._client_thread = threading.Thread(
            target=self._prepare_first_reply, name="liu-client", daemon=True
        )
        self._client_thread.start()
        return self._client_thread

    def _prepare_first_reply(self) -> None:
        """The client, and the session file format (PyYAML's import, ~20 ms): the first
        prompt creates the session's file before the request goes out."""
        import tui.core.fileformat  # noqa: F401

        self.http_client()

    def retry_policy(
        self, on_retry: Callable[[ProviderError, float, int], None] | None
    ) -> RetryPolicy:
        from tui.providers.retry import RetryPolicy

        if self.retry_sleep is not None:
            return RetryPolicy(on_retry=on_retry, sleep=self.retry_sleep)
        return RetryPolicy(on_retry=on_retry)

    def default_model(self) -> str | None:
        """The configured default, else the first keyed provider, else a local configured one."""
        from tui.providers import registry

        try:
            picked = registry.pick_default_model(self.settings)
            if picked:
                return picked
            if self.settings.default_model:
                # Chosen by the user but unusable now (no key, server down): sending says
                # exactly what to fix, which helps more than the first-run screen.
                return self.settings.default_model
            for info in registry.configured_models(self.settings):
                if info.local and info.source == "config":
                    return info.model_id
        except LiuError:
            return None
        return None

    @property
    def chat(self) -> ChatScreen:
        from tui.app.screens.chat import ChatScreen

        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("no chat screen")

    # ------------------------------------------------------------ start and stop

    def _install_themes(self) -> None:
        themes, self._theme_warnings = load_themes(self.theme_folders)
        for theme in themes:
            self.register_theme(theme)
        wanted = LOW_BANDWIDTH_THEME if self.low_bandwidth else self.settings.theme
        if wanted not in self.available_themes:
            self._theme_warnings.append(
                f"theme {wanted!r} is not installed; using textual-dark "
                f"(themes: {', '.join(sorted(self.available_themes))})"
            )
            wanted = "textual-dark"
        self._start_theme = wanted

    def on_mount(self) -> None:
        from tui.app.screens.chat import ChatScreen

        self.theme = self._start_theme
        keys = dict(self.settings.keys)
        if keys:
            self.set_keymap(keys)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_ready = True
        for warning in self._theme_warnings:
            self.notify(warning, title="Theme", severity="warning", timeout=8)
        self.push_screen(ChatScreen())
        if not self.default_model() and not self.model_override:
            self.push_screen(FirstRunScreen(self.settings, self.http_client(), self.local_ports),
                             self._first_run_done)  # fmt: skip
        if not self.is_headless:
            self._install_signal_handlers()

    def _first_run_done(self, model_id: str | None) -> None:
        if not model_id:
            return
        from tui.config import load_settings

        try:
            self.settings = load_settings()
        except ConfigError as e:
            self.notify(str(e), severity="error")
            return
        self.chat.set_model(model_id)

    def _theme_changed(self, theme: Theme) -> None:
        if not self._theme_ready or self.low_bandwidth or theme.name == self.settings.theme:
            return
        from tui.config import set_value

        try:
            set_value("theme", theme.name)
        except ConfigError as e:
            self.notify(f"theme not saved: {e}", severity="warning")
            return
        self.settings.theme = theme.name

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        if self._signalled is None:
            self._signalled = sig
            self.call_later(self._exit_on_signal, 128 + sig)

    async def stop_reply(self) -> None:
        """Cancel a streaming reply and wait until the engine has saved the partial."""
        with contextlib.suppress(LookupError):
            chat = self.chat
            workers = [w for w in self.workers if w.group == "reply" and not w.is_finished]
            chat.cancel_reply()
            for worker in workers:
                with contextlib.suppress(Exception):
                    await worker.wait()

    async def _exit_on_signal(self, code: int) -> None:
        await self.stop_reply()
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        await self.stop_reply()
        with contextlib.suppress(LookupError):
            self.chat.save_state()
        self.exit(EXIT_OK, return_code=EXIT_OK)

    async def on_unmount(self) -> None:
        gc_tuning.release()  # a reply's end may hold collections: no frame is coming now
        with contextlib.suppress(LookupError):
            self.chat.save_state()
        if not self.is_headless:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
        if self._library is not None:
            self._library.close()

    # ------------------------------------------------------------ commands

    def copy_to_clipboard(self, text: str) -> None:
        """OSC 52, wrapped for tmux or screen when liu runs inside one."""
        self._clipboard = text
        if self._driver is not None:
            self._driver.write(clipboard_sequence(text, os.environ))

    def action_export(self, fmt: str) -> None:
        try:
            chat = self.chat
        except LookupError:
            return
        if not chat.saved:
            self.notify("Nothing to export: this session has no messages yet")
            return
        self.export_session(chat.session.session_id, fmt)

    def export_session(self, session_id: str, fmt: str, folder: Path | None = None) -> Path | None:
        """Write a session as markdown or JSON into `folder` (the working directory)."""
        import json

        from tui.core import fileformat
        from tui.core.export import session_to_json
        from tui.core.store import slug, write_atomic

        lib = self.library
        path = lib.index.path_of(session_id)
        if path is None:
            self.notify(f"no session {session_id[:8]}", severity="error")
            return None
        try:
            session = lib.store.load(path)
            if fmt == "json":
                data = json.dumps(session_to_json(session), ensure_ascii=False, indent=2) + "\n"
            else:
                data = fileformat.write(session)
            name = f"liu-{slug(session.title or 'session')}-{session_id[:8]}.{fmt}"
            target = (folder or Path.cwd()) / name
            write_atomic(target, data.encode("utf-8"))
        except (LiuError, OSError) as e:
            self.notify(f"export failed: {e}", severity="error")
            return None
        self.notify(f"Exported to {target}", title="Export", timeout=6)
        return target

    async def action_undo_delete(self) -> None:
        session_id = self.last_trashed
        if session_id is None:
            self.notify("Nothing to undo")
            return
        try:
            self.library.store.restore(session_id)
        except LiuError as e:
            self.notify(str(e), severity="error")
            return
        self.last_trashed = None
        with contextlib.suppress(LookupError):
            chat = self.chat
            chat.session_list.reload()
            await chat.open_session(session_id)
        self.notify("Restored")


# ---------------------------------------------------------------------------- entry point


def apply_low_bandwidth() -> None:
    """16 colours and 15 frames a second, for Textual as imported and for any child process.

    `TEXTUAL_*` variables are read when Textual is imported, which happened with this module:
    the values Textual took from them are set too, before the app and its screens exist.
    """
    os.environ["TEXTUAL_COLOR_SYSTEM"] = "standard"
    os.environ["TEXTUAL_FPS"] = str(LOW_BANDWIDTH_FPS)
    from textual import constants
    from textual import screen as textual_screen

    setattr(constants, "COLOR_SYSTEM", "standard")  # noqa: B010
    setattr(constants, "MAX_FPS", LOW_BANDWIDTH_FPS)  # noqa: B010
    setattr(textual_screen, "UPDATE_PERIOD", 1 / LOW_BANDWIDTH_FPS)  # noqa: B010


def run(args: argparse.Namespace) -> int:
    from tui.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"liu: {e}", file=sys.stderr)
        return EXIT_USAGE
    low_bandwidth = bool(getattr(args, "low_bandwidth", False)) or settings.low_bandwidth
    if low_bandwidth:
        apply_low_bandwidth()
    try:
        library = Library.open()
    except LiuError as e:
        print(f"liu: {e}", file=sys.stderr)
        return EXIT_USAGE
    app = LiuApp(
        settings,
        library=library,
        model=getattr(args, "model", None),
        session=getattr(args, "session", None),
        new=bool(getattr(args, "new", False)),
        low_bandwidth=low_bandwidth,
    )
    app.run(mouse=settings.mouse and not low_bandwidth)
    return int(app.return_code or 0)
