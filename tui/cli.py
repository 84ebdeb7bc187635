"""`liu`: the app with no subcommand, else one of the pipe-friendly commands.

Each command lives in `tui.commands.<name>` with a `register(subparsers)` that sets
`run=<function(args) -> int>`; heavy imports happen inside `run`, so `liu --help` and the
app's start-up stay quick.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tui import __version__, gc_tuning
from tui.core.errors import LiuError

COMMANDS = ("sessions", "transfer", "ask", "models", "config_cmd", "serve")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liu",
        description="liu (流): chat with LLMs in the terminal; every session is a markdown file.",
    )
    parser.add_argument("--version", action="version", version=f"liu {__version__}")
    parser.add_argument("-m", "--model", help="model for new replies, as provider:model")
    parser.add_argument("-s", "--session", help="open this session (any unique id prefix)")
    parser.add_argument("--new", action="store_true", help="start in a new session")
    parser.add_argument(
        "--low-bandwidth",
        action="store_true",
        help="for slow links: 16 colours, the terminal's palette, 15 fps, no mouse capture",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tui.commands.{name}").register(sub)
    return parser


def run_app(args: argparse.Namespace) -> int:
    if args.low_bandwidth:
        # Textual reads these when it is first imported: set them before the app module.
        os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "standard")
        os.environ.setdefault("TEXTUAL_FPS", "15")
    from tui.app.app import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    gc_tuning.tune()
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    try:
        if run is None:
            return run_app(args)
        code: int = run(args)
        return code
    except LiuError as e:
        print(f"liu: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `liu sessions list | head`: the reader left; say nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
