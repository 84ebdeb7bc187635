"""`liu serve`: the same app in a browser, served on this machine by textual-serve."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the app to a browser on 127.0.0.1 (textual-serve)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("-m", "--model", help="model for new replies, as provider:model")
    p.set_defaults(run=cmd_serve)


def app_command(args: argparse.Namespace) -> str:
    """The command each browser tab runs: this Python, this liu."""
    parts = [sys.executable, "-m", "tui"]
    if args.model:
        parts += ["--model", args.model]
    return shlex.join(parts)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        print("liu: serving needs textual-serve: pip install 'liu[serve]'", file=sys.stderr)
        return 2
    print(f"liu: serving on http://{args.host}:{args.port} (Ctrl+C stops)", file=sys.stderr)
    Server(app_command(args), host=args.host, port=args.port, title="liu").serve()
    return 0
