"""Where liu keeps things: `LIU_HOME` if set (everything under it), else the XDG folders."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def data_dir() -> Path:
    """Sessions, trash and the search index live here."""
    home = os.environ.get("LIU_HOME")
    if home:
        return Path(home).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / "liu"


def config_dir() -> Path:
    """config.toml and the user's themes folder."""
    home = os.environ.get("LIU_HOME")
    if home:
        return Path(home).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "liu"


def config_file() -> Path:
    override = os.environ.get("LIU_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"


def ensure_private_dir(path: Path) -> Path:
    """Create a folder readable only by its owner (sessions may hold anything private)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path
