"""``d1c train``: compile a training step for a model file and run it on its batches.

``d1c train MODEL.py --steps N [--lr F] [--momentum F] [--weight-decay F] [--dtype bf16|fp32]
[--rounding rne|sr] [--seed S] [--target T] [--curve out.json] [--every K]`` loads ``model()``,
``loss(output, *targets)`` and ``batches()`` from MODEL.py (``examples/train_mlp.py`` documents
the convention), compiles the step with :func:`d1c.compile_training` on the first batch, runs
``N`` steps (simulated; interpreted with ``--rounding sr``) and prints the loss every ``K``
steps; ``--curve`` writes the losses as JSON.
"""

from __future__ import annotations

import itertools
import json

import click

from d1c.cli import main
from d1c.cli.options import check_target
from d1c.errors import D1cError


@main.command()
@click.argument("model_file", metavar="MODEL.py")
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True)
@click.option("--lr", type=float, default=0.1, show_default=True, help="SGD learning rate.")
@click.option("--momentum", type=float, default=0.0, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--dtype", type=click.Choice(["bf16", "fp32"]), default="bf16", show_default=True)
@click.option("--rounding", type=click.Choice(["rne", "sr"]), default="rne", show_default=True,
              help="Rounding of the weight update to the storage format.")  # fmt: skip
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of stochastic rounding.")  # fmt: skip
@click.option("--target", default="mini", show_default=True, callback=check_target)
@click.option("--curve", type=click.Path(dir_okay=False), help="Write the losses as JSON.")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True,
              help="Print the loss every this many steps.")  # fmt: skip
def train(model_file: str, steps: int, lr: float, momentum: float, weight_decay: float,
          dtype: str, rounding: str, seed: int, target: str, curve: str | None,
          every: int) -> None:  # fmt: skip
    """Train MODEL.py for --steps steps with SGD on the simulated target."""
    import d1c
    from d1c.training import load_training_file

    model, loss, batches = load_training_file(model_file)
    data = list(itertools.islice(batches, steps))
    if len(data) < steps:
        raise D1cError(f"batches() of {model_file} gave {len(data)} batches, --steps is {steps}")
    optimizer = d1c.optim.SGD(lr, momentum=momentum, weight_decay=weight_decay)
    prog = d1c.compile_training(
        model, loss, data[0], optimizer=optimizer, target=target, dtype=dtype,
        rounding=rounding, seed=seed,
    )  # fmt: skip
    losses = []
    for i, (inputs, targets) in enumerate(data, 1):
        losses.append(prog.step(_tuple(inputs), _tuple(targets)).item())
        if i % every == 0 or i == steps:
            click.echo(f"step {i}/{steps}  loss {losses[-1]:.6f}")
    if curve:
        with open(curve, "w") as f:
            json.dump({"steps": list(range(1, steps + 1)), "loss": losses}, f)


def _tuple(x: object) -> tuple:
    return tuple(x) if isinstance(x, list | tuple) else (x,)
