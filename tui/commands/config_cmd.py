"""`liu config path|show|set`: see and change the settings without opening the file."""

from __future__ import annotations

import argparse
import sys

from tui import paths
from tui.core.errors import ConfigError


def _fail(error: ConfigError) -> int:
    print(f"liu: {error}", file=sys.stderr)
    return 2


def run_path(args: argparse.Namespace) -> int:
    print(paths.config_file())
    return 0


def run_show(args: argparse.Namespace) -> int:
    """The effective settings (file and LIU_* variables) as TOML; secrets are hidden."""
    from tui.config import load_settings, show_settings

    try:
        text = show_settings(load_settings())
    except ConfigError as e:
        return _fail(e)
    sys.stdout.write(f"# {paths.config_file()} with LIU_* variables on top\n{text}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    from tui.config import set_value

    try:
        set_value(args.key, args.value)
    except ConfigError as e:
        return _fail(e)
    print(f"{args.key} set in {paths.config_file()}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config", help="show or change settings", description="Show or change liu's settings."
    )
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    actions.add_parser("path", help="print where the config file is").set_defaults(run=run_path)
    actions.add_parser("show", help="print the effective settings as TOML").set_defaults(
        run=run_show
    )
    setter = actions.add_parser(
        "set",
        help="set one value in the config file",
        description="Set KEY to VALUE in the config file, keeping everything else. VALUE is "
        "read as true/false, a number or a TOML array when it looks like one, else as text.",
        epilog="examples: liu config set default_model openai:gpt-4.1\n"
        "          liu config set providers.lab.base_url http://127.0.0.1:8080/v1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    setter.add_argument("key", metavar="KEY", help="dotted key, e.g. providers.lab.base_url")
    setter.add_argument("value", metavar="VALUE")
    setter.set_defaults(run=run_set)
