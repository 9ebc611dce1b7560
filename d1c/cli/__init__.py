"""The ``d1c`` command line.

Each family of subcommands lives in its own module (``d1c/cli/*.py``) and registers itself on the
``main`` group; this file only builds the group and turns :class:`D1cError` into a clean message and
a non-zero exit code, so a user mistake never prints a Python traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from d1c.errors import D1cError

# Modules whose import registers subcommands on `main`.
COMMAND_MODULES = (
    "d1c.cli.compile",
    "d1c.cli.isa",
    "d1c.cli.run",
    "d1c.cli.report",
    "d1c.cli.fuzz",
    "d1c.cli.train",
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except D1cError as err:
            click.echo(err.render(), err=True)
            if os.environ.get("D1C_DEBUG"):
                raise
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="d1c")
def main() -> None:
    """d1c: compile PyTorch models for a Dojo-class D1 training tile and simulate them bit-accurately."""


SIM_HELP = (
    "Simulate regions of chips in this many processes (same results for any count).",
    "Simulate regions on Ray actors: on the cluster at ADDRESS, or without one on $RAY_ADDRESS "
    "or a local Ray (pip install -e '.[ray]').",
)
FUZZ_HELP = (
    "Fuzz chunks of examples in this many processes (same report for any count).",
    "Fuzz chunks of examples as Ray tasks: on the cluster at ADDRESS, or without one on "
    "$RAY_ADDRESS or a local Ray (pip install -e '.[ray]').",
)


def sim_options(f=None, *, helps: tuple[str, str] = SIM_HELP):
    """``--workers N`` and ``--ray [ADDRESS]`` (:mod:`d1c.runtime.parallel`, or with
    ``helps=FUZZ_HELP`` :mod:`d1c.fuzz.distribute`); :func:`sim_kwargs` turns them into
    keyword arguments."""

    def add(f):
        f = click.option("--ray", is_flag=False, flag_value="local", default=None,
                         metavar="[ADDRESS]", help=helps[1])(f)  # fmt: skip
        return click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
                            help=helps[0])(f)  # fmt: skip

    return add if f is None else add(f)


def sim_kwargs(workers: int, ray: str | None) -> dict:
    """``simulate`` keyword arguments of :func:`sim_options`."""
    return {"workers": workers, "ray": True if ray == "local" else ray}


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


_register()
