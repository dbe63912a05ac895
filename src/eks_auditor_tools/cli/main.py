"""`eks-auditor`: one entry point for people and tests.

It uses the standard AWS credential chain and environment (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL), so it runs read-only against a real account or any AWS-compatible endpoint.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from eks_auditor_tools.cli.aws import CliError, describe

OUTPUTS = ("table", "json", "csv", "ocsf")
# Commands whose results are findings write OCSF too; every other command refuses it (exit 2).
OCSF_COMMANDS = frozenset({"scan", "findings", "findings show"})

# Each module registers one subcommand with `register(subparsers)`. Only the module of the command being
# run is imported (help and usage errors import them all, to list every command).
_COMMANDS: dict[str, str] = {
    "demo": "eks_auditor_tools.cli.demo",
    "scan": "eks_auditor_tools.cli.scan",
    "replay": "eks_auditor_tools.cli.replay",
    "findings": "eks_auditor_tools.cli.findings",
    "posture": "eks_auditor_tools.cli.posture",
    "suppress": "eks_auditor_tools.cli.suppress",
    "report": "eks_auditor_tools.cli.report",
    "openapi": "eks_auditor_tools.cli.openapi",
    "max-pods": "eks_auditor_tools.cli.max_pods",
    "checks": "eks_auditor_tools.cli.checks",
    "local": "eks_auditor_tools.cli.local",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: its command's module only; every command's without `argv` (or for help)."""
    parser = argparse.ArgumentParser(prog="eks-auditor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = None if argv is None else _command(argv)
    for module_name in [_COMMANDS[command]] if command else _COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    for sub in _subcommands(parser):
        # Which command ran, for the checks that depend on it (set on the deepest parser last wins).
        sub.set_defaults(command_path=sub.prog.removeprefix(f"{parser.prog} "))
    for sub in _subcommands(parser):
        _add_global_options(sub, top=False)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    """'scan', 'findings show', ... from the parsed subcommand chain (prog is 'eks-auditor findings show')."""
    return str(getattr(args, "command_path", args.command))


def _command(argv: Sequence[str]) -> str | None:
    """The command `argv` runs, when it names a known one and asks for no top-level help or version."""
    words = list(argv)
    probe = argparse.ArgumentParser(add_help=False)
    _add_global_options(probe, top=True)
    probe.add_argument("command", nargs="?")
    try:
        known, _ = probe.parse_known_args(words)
    except SystemExit:  # a malformed global option: the full parser reports it
        return None
    command = known.command
    if command not in _COMMANDS:
        return None
    before = words[: words.index(command)]
    if any(word in ("-h", "--help", "--version") for word in before):
        return None
    return str(command)


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v, --output, --region, --profile on the top parser and on every subcommand.

    In a subcommand their default is SUPPRESS: argparse copies a subparser's defaults over the values
    parsed before the subcommand, so `--region R scan` would lose R otherwise.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    options = parser._option_string_actions
    if "-v" not in options:
        parser.add_argument(
            "-v", "--verbose", action="count", default=default(0), help="log at INFO (-vv: DEBUG, tracebacks)"
        )
    if "--output" not in options:
        parser.add_argument("--output", choices=OUTPUTS, default=default("table"), help="output format")
    if "--region" not in options:
        parser.add_argument(
            "--region",
            action="append",
            default=default([]),
            help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region)",
        )
    if "--profile" not in options:
        parser.add_argument("--profile", default=default(None), help="AWS profile (default: AWS_PROFILE)")


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subcommands(sub)


def _version() -> str:
    # Imported here: importlib.metadata costs more than most commands' own imports, and only --version
    # and --help read it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eks-auditor")
    except PackageNotFoundError:
        return "unknown"


def _utf8_safe() -> None:
    """A non-UTF-8 terminal or pipe gets replacement characters, not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 ok, 1 no result, 2 usage or configuration error, 3 a finding at --fail-on."""
    _utf8_safe()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.output == "ocsf" and _command_name(args) not in OCSF_COMMANDS:
        commands = ", ".join(sorted(OCSF_COMMANDS))
        parser.error(f"--output ocsf is for {commands} (this command: table, json, csv)")
    logging.basicConfig(
        level={0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `eks-auditor checks | head`: the reader left; say nothing, as aws-cli and coreutils do.
        _silence_stdout()
        return 0
    except CliError as exc:
        return _fail(exc, args)
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        error = describe(exc, args)
        if error is None:
            error = CliError(f"{type(exc).__name__}: {exc} (run with -vv for the traceback)")
        error.__cause__ = exc
        return _fail(error, args)
    return result


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises no second BrokenPipeError."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _fail(error: CliError, args: argparse.Namespace) -> int:
    if args.verbose >= 2:
        raise error
    message = str(error).strip().splitlines() or [type(error.__cause__).__name__]
    print(f"eks-auditor: {message[0]}", file=sys.stderr)
    return error.code


if __name__ == "__main__":
    raise SystemExit(main())
