"""`mcgip`: entry point. Each subcommand lives in its own module with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys

from mcgip_fast._core import __version__

#: Subcommand modules under mcgip_fast.cli, in the order `--help` lists them.
SUBCOMMANDS = ("demo", "inspect", "prepare", "mine", "shuffle_pairs", "train", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcgip",
        description="Gaze-guided contrastive pre-training (McGIP) at archive scale.",
    )
    parser.add_argument("--version", action="version", version=f"mcgip {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"mcgip_fast.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"mcgip_fast.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from mcgip_fast.gaze.hints import cli_spelling

    try:
        with cli_spelling():  # error messages name options as this command's flags
            return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"mcgip {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
