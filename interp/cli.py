"""`clip-interp` command line, generated from the jobs registry: one subcommand per registered command."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from activations_store import StoreError
from probes.errors import ProbeError

from .errors import InterpError

EXPECTED = (InterpError, StoreError, ProbeError, FileNotFoundError)


class _LiteralHelp(argparse.HelpFormatter):
    """Help text is printed as written: a '%' in it (as in "95% CI") is a percent sign, not a format directive."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return (action.help or "").replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every registered subcommand."""
    from .jobs import COMMANDS

    p = argparse.ArgumentParser(prog="clip-interp", description="Mechanistic interpretability for CLIP models.",
                                formatter_class=_LiteralHelp)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, formatter_class=_LiteralHelp)
        sp.set_defaults(fn=cmd.run)
        sp.add_argument("--device", default="cpu", help="torch device (default cpu)")
        cmd.arguments(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear error line and exit code 2 for every expected failure."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except EXPECTED as exc:
        print(f"clip-interp: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("clip-interp: interrupted (committed rows are safe; rerun with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
