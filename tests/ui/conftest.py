"""Fixtures for the app's Pilot and snapshot tests: a loopback LLM server configured as the
provider `lab`, a fixed clock, a fixed theme, and snapshots kept in the top-level folder."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from textual.pilot import Pilot

from tests.server import FakeLLMServer, running_server
from tui.app import app as app_module
from tui.app.app import LiuApp
from tui.config import load_settings
from tui.core import fileformat
from tui.core.library import Library
from tui.core.session import Session

TESTS_DIR = Path(__file__).resolve().parent.parent
FIXED_NOW = datetime(2026, 2, 1, 12, 0, 0)
SEED = TESTS_DIR / "data" / "seed-session.md"


# -------------------------------------------------------------------- snapshots in snapshots/


def _snapshot_dirname(cls: type[SVGImageExtension], *, test_location: Any) -> str:
    """`<tests>/../snapshots/<test dir relative to tests>/<module>`: the `tests/..` prefix
    keeps syrupy's "this run owns these snapshots" check (a path prefix) working."""
    test_dir = Path(test_location.filepath).parent
    relative = test_dir.relative_to(TESTS_DIR)
    return str(TESTS_DIR / ".." / "snapshots" / relative / test_location.basename)


SVGImageExtension.dirname = classmethod(_snapshot_dirname)  # type: ignore[method-assign,assignment]


# -------------------------------------------------------------------- determinism


class FixedDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> FixedDatetime:
        return cls(2026, 2, 1, 12, 0, 0)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times a reply stamps itself with come from the fixed clock; no cursor blink."""
    from textual.widgets import Input, TextArea

    from tui.app.widgets import message_log

    monkeypatch.setattr(message_log, "datetime", FixedDatetime)
    monkeypatch.setattr(TextArea, "cursor_blink", False, raising=False)
    monkeypatch.setattr(Input, "cursor_blink", False, raising=False)

    # Prices depend on the time of day (DeepSeek's off-peak rates): price at a fixed moment.
    from tui.core import pricing

    real_calc = pricing._genai_calc

    def calc_at_fixed_time(*args: Any) -> Any:
        *rest, when = args
        return real_calc(*rest, when or FIXED_NOW)

    monkeypatch.setattr(pricing, "_genai_calc", calc_at_fixed_time)


@pytest.fixture(autouse=True)
def _no_in_process_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether `liu[local]` (llama.cpp and SmolLM2) is installed must not change what the
    app does in these tests: without keys, no model is usable unless a test configures one."""
    from tui.providers import registry

    if hasattr(registry, "local_extra_installed"):
        monkeypatch.setattr(registry, "local_extra_installed", lambda: False)


@pytest.fixture(autouse=True)
def _verify_one_message_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every layout that arranges one message alone is checked against a layout of the
    whole screen: the map must be the same, entry for entry. The app's patches of Textual
    are in place from the first test on (not only once a `LiuApp` has started)."""
    from tui.app import message_reflow
    from tui.app.fewer_layouts import skip_virtual_size_layouts
    from tui.app.partial_paint import paint_changed_rows_only

    skip_virtual_size_layouts()
    paint_changed_rows_only()
    monkeypatch.setattr(message_reflow, "verify_each", True)


def fixed_clock() -> datetime:
    return FIXED_NOW


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -------------------------------------------------------------------- config and server


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def lab_config(port: int, extra: str = "") -> str:
    return f"""
default_model = "lab:fake-model"
theme = "liu-ink"

[providers.lab]
base_url = "http://127.0.0.1:{port}/v1"
models = ["fake-model", "fake-reasoner"]

[prices."lab:fake-model"]
input = 1.0
output = 2.0
{extra}
"""


@pytest.fixture
def lab_server(liu_home: Path) -> Iterator[FakeLLMServer]:
    """The loopback server, and a config whose provider `lab` points at it."""
    with running_server() as server:
        write_config(liu_home, lab_config(server.port))
        yield server


@pytest.fixture
def seed_session(liu_home: Path) -> Session:
    """The seed session in the store."""
    session = fileformat.parse_bytes(SEED.read_bytes(), str(SEED)).session
    lib = Library.open()
    lib.store.replace(session)
    lib.close()
    return session


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


MakeApp = Callable[..., LiuApp]


@pytest.fixture
def make_app() -> MakeApp:
    """An app on the settings in LIU_HOME, with a fixed clock and no real retry waits."""

    def make(**kwargs: Any) -> LiuApp:
        kwargs.setdefault("clock", fixed_clock)
        kwargs.setdefault("local_ports", (free_port(),))
        kwargs.setdefault("theme_folders", [app_module.shipped_themes_dir()])
        settings = kwargs.pop("settings", None) or load_settings()
        app = LiuApp(settings, **kwargs)
        app.retry_sleep = _no_wait
        return app

    return make


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], limit: float = 15.0) -> None:
    """Pause until `condition()` holds (a bound, not a timing assertion)."""
    waited = 0.0
    while not condition():
        if waited > limit:
            pytest.fail("the app never reached the expected state")
        await pilot.pause(0.02)
        waited += 0.02
