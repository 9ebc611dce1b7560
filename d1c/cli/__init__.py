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


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


_register()
