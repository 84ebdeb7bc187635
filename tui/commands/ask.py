"""`liu ask`: one prompt, the reply streamed to stdout, the exchange saved like any session."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ask",
        help="ask one question; the reply streams to stdout",
        description="Ask a model. The prompt is the arguments, or standard input, or both "
        "(arguments first, then the piped text).",
    )
    p.add_argument("prompt", nargs="*", help="the prompt (else read from standard input)")
    p.add_argument("-m", "--model", help="provider:model (default: the session's or config's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-s", "--session", metavar="ID", help="continue this session")
    where.add_argument("-c", "--continue", dest="cont", action="store_true",
                       help="continue the latest session")  # fmt: skip
    p.add_argument("--system", metavar="TEXT", help="system prompt for this exchange")
    p.add_argument("--no-save", action="store_true", help="keep nothing on disk")
    p.add_argument("--usage", action="store_true", help="tokens and cost on stderr at the end")
    p.add_argument("--reasoning", action="store_true", help="the model's reasoning on stderr")
    p.set_defaults(run=cmd_ask)


def read_prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    parts = [" ".join(args.prompt)] if args.prompt else []
    if not stdin.isatty():
        piped = stdin.read()
        if piped.strip():
            parts.append(piped)
    return "\n\n".join(parts)


def cmd_ask(args: argparse.Namespace) -> int:
    from tui.config import load_settings
    from tui.core.errors import LiuError

    prompt = read_prompt(args, sys.stdin)
    if not prompt.strip():
        print("liu: nothing to ask: give a prompt, or pipe one in", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    if args.no_save:
        with tempfile.TemporaryDirectory(prefix="liu-nosave-") as tmp:
            return _ask(args, prompt, settings, Path(tmp))
    try:
        return _ask(args, prompt, settings, None)
    except LiuError:
        raise


def _ask(args: argparse.Namespace, prompt: str, settings: Any, root: Path | None) -> int:
    from tui.core.library import Library
    from tui.core.session import Session
    from tui.providers import registry

    lib = Library.open(root)
    session: Session | None = None
    if args.session:
        session = lib.store.read(lib.resolve(args.session).path).session
    elif args.cont:
        recent = lib.index.recent(limit=1)
        if recent:
            session = lib.store.read(recent[0].path).session
    model_id = (
        args.model
        or (session.model_id if session else "")
        or registry.pick_default_model(settings)
        or settings.default_model
    )
    if not model_id:
        print(
            "liu: no model: set an API key (e.g. export DEEPSEEK_API_KEY=...) and/or "
            "`liu config set default_model provider:model`, or pass -m",
            file=sys.stderr,
        )
        return EXIT_USAGE
    registry.parse_model_id(model_id, settings)  # a typo is reported before anything is saved
    if session is None:
        session = Session(model_id=model_id, assistant_id=settings.default_assistant)
        lib.store.create(session)
    import asyncio

    assistant = settings.assistant(session.assistant_id)
    system = (
        args.system if args.system is not None else (assistant.system_prompt if assistant else None)
    )
    return asyncio.run(_stream(lib, settings, session.session_id, model_id, prompt, system, args))


async def _stream(
    lib: Any, settings: Any, session_id: str, model_id: str, prompt: str, system: str | None,
    args: argparse.Namespace,
) -> int:  # fmt: skip
    import asyncio

    from tui.core.display import format_cost, format_tokens
    from tui.core.turn import (
        ReplyFailed,
        ReplyFinished,
        ReplyReasoning,
        ReplyText,
        TurnSpec,
        run_turn,
    )
    from tui.providers import threaded

    out, err = sys.stdout, sys.stderr
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stopped_by: list[str] = []

    def stop(name: str) -> None:
        stopped_by.append(name)
        if task is not None:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, NotImplementedError):
            loop.add_signal_handler(sig, stop, sig.name)

    def on_retry(error: Exception, wait: float, attempt: int) -> None:
        print(f"liu: {error}; retrying in {wait:.1f} s ({attempt})", file=err, flush=True)

    spec = TurnSpec(
        session_id=session_id,
        model_id=model_id,
        prompt=prompt,
        system_prompt=system,
        checkpoint_interval=settings.checkpoint_interval,
        read_timeout=settings.read_timeout,
        on_retry=on_retry,
    )
    ended_with_newline = True
    in_reasoning = False
    flush_pending = False

    def flush_out() -> None:
        nonlocal flush_pending
        flush_pending = False
        with contextlib.suppress(BrokenPipeError, ValueError):
            out.flush()

    try:
        async with threaded.async_client() as client:
            async for event in run_turn(lib.store, settings, spec, client=client):
                if isinstance(event, ReplyText):
                    if in_reasoning:
                        err.write("\n")
                        in_reasoning = False
                    out.write(event.text)
                    if not flush_pending:
                        # Flushed once the loop waits on the network again: each burst of
                        # tokens reaches the pipe at once, without a write per token.
                        flush_pending = True
                        loop.call_soon(flush_out)
                    ended_with_newline = event.text.endswith("\n")
                elif isinstance(event, ReplyReasoning) and args.reasoning:
                    err.write(event.text)
                    err.flush()
                    in_reasoning = True
                elif isinstance(event, ReplyFinished):
                    if not ended_with_newline:
                        out.write("\n")
                        out.flush()
                    if args.usage:
                        u, c = event.message.usage, event.message.cost
                        est = "~" if u and u.extra.get("estimated") else ""
                        print(
                            f"{model_id}  {est}{format_tokens(u.prompt_tokens if u else None)} in"
                            f" / {est}{format_tokens(u.completion_tokens if u else None)} out  "
                            f"{format_cost(c.total_cost if c else None)}  "
                            f"session {session_id[:8]}",
                            file=err,
                        )
                    return EXIT_OK
                elif isinstance(event, ReplyFailed):
                    if not ended_with_newline:
                        out.write("\n")
                        out.flush()
                    kept = " (the partial reply is saved)" if event.message is not None else ""
                    print(f"liu: {event.error}{kept}", file=err)
                    return EXIT_PROVIDER
    except asyncio.CancelledError:
        if not ended_with_newline:
            out.write("\n")
        print(f"liu: stopped{' by ' + stopped_by[0] if stopped_by else ''}; "
              f"the partial reply is saved in session {session_id[:8]}", file=err)  # fmt: skip
        return EXIT_INTERRUPTED
    return EXIT_PROVIDER
