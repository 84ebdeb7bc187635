"""Copy over any link: OSC 52, wrapped for tmux and GNU screen when we run inside them.

Textual's `App.copy_to_clipboard` writes a bare `ESC ] 52 ; c ; <base64> BEL`. Inside tmux
that reaches the terminal only with `set -g set-clipboard on` or as DCS passthrough
(`ESC P tmux; ... ESC \\`, every ESC inside doubled; tmux needs `allow-passthrough on`
since 3.3). GNU screen passes a DCS string through, but cuts strings longer than 768 bytes,
so a long copy goes out in several DCS pieces that together form the OSC 52.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

ESC = "\x1b"
ST = ESC + "\\"
SCREEN_CHUNK = 768


def osc52(text: str) -> str:
    """The bare sequence: what a terminal itself understands."""
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"{ESC}]52;c;{data}\a"


def wrap_for_multiplexer(sequence: str, env: Mapping[str, str]) -> str:
    """Wrap an escape sequence so tmux (`$TMUX`) or screen (`$STY`) passes it through."""
    if env.get("TMUX"):
        return f"{ESC}Ptmux;" + sequence.replace(ESC, ESC + ESC) + ST
    if env.get("STY"):
        pieces = [sequence[i : i + SCREEN_CHUNK] for i in range(0, len(sequence), SCREEN_CHUNK)]
        return "".join(f"{ESC}P{piece}{ST}" for piece in pieces)
    return sequence


def clipboard_sequence(text: str, env: Mapping[str, str]) -> str:
    """What to write to the terminal to put `text` on the clipboard."""
    return wrap_for_multiplexer(osc52(text), env)
