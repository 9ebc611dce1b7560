"""Option checks shared by the subcommands: a bad value fails before any work starts."""

from __future__ import annotations

import click


def check_target(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback of ``--target``: load the target now, so ``--target dojo-tiel`` fails at
    once (suggesting ``dojo-tile``) instead of after exporting the model."""
    if value is not None:
        from d1c.target import load_target

        load_target(value)
    return value
