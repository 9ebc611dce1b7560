"""Loss curves of d1c training steps against torch eager FP32 on real text.

Usage: ``python benchmarks/training.py [--steps 60] [--batch 32] [--target mini] [--every 10]
[--lr 0.5] [--momentum 0.9]``

Task: next-character prediction from the 4 previous characters on the source of the Python
standard library's ``textwrap.py`` (every machine has it; the first 80% of its characters train,
the rest is held out). Characters map to 32 classes (letters case-folded, digits 0-3, space,
the rest, newlines included, one class); the model is an MLP on the one-hot window (128 -> 64 -> 32, ReLU),
cross-entropy, ``d1c.optim.SGD(lr, momentum)`` (default 0.5, 0.9). Every run starts from the same weights and
sees the same batches in the same order:

- ``torch fp32``: torch eager, ``torch.optim.SGD`` (the baseline);
- ``d1c fp32``, ``d1c bf16 rne``: simulated steps (``d1c.compile_training``);
- ``d1c bf16 sr``: stochastic rounding of the update, steps in the IR interpreter (the D1's
  per-tile stochastic-rounding stream cannot reproduce the interpreter's yet).

Printed: the training loss every ``--every`` steps per run, the held-out loss of the final
weights (evaluated by torch in fp32 for every run) and its gap to torch's, seconds per step
(host time, measured in this run) and the simulated cycles and utilization of one step.
"""

from __future__ import annotations

import argparse
import copy
import string
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch

import d1c

WINDOW, CLASSES, HIDDEN = 4, 32, 64
ALPHABET = string.ascii_lowercase + string.digits[:4] + " "  # 31 classes, and "other"


def _classes(text: str) -> np.ndarray:
    table = {c: i for i, c in enumerate(ALPHABET)}
    return np.array([table.get(c.lower(), len(ALPHABET)) for c in text], np.int64)


def dataset() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train x, train y, held-out x, held-out y): one-hot windows and the next class."""
    path = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
    ids = _classes(path.read_text())
    xs = np.stack([ids[i : len(ids) - WINDOW + i] for i in range(WINDOW)], axis=1)
    x = torch.nn.functional.one_hot(torch.from_numpy(xs), CLASSES).float().reshape(len(xs), -1)
    y = torch.from_numpy(ids[WINDOW:])
    cut = int(0.8 * len(y))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(WINDOW * CLASSES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)
    )


def batches(x: torch.Tensor, y: torch.Tensor, steps: int, size: int) -> list:
    g = torch.Generator().manual_seed(1)
    return [
        (x[i], y[i]) for i in (torch.randint(0, len(y), (size,), generator=g) for _ in range(steps))
    ]


def torch_run(data: list, lr: float, momentum: float) -> tuple[list[float], dict, float]:
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum)
    losses, t0 = [], time.perf_counter()
    for x, y in data:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, dict(m.named_parameters()), (time.perf_counter() - t0) / len(data)


def d1c_run(data: list, lr: float, momentum: float, dtype: str, rounding: str, target: str):
    prog = d1c.compile_training(
        model(),
        torch.nn.functional.cross_entropy,
        ((data[0][0],), (data[0][1],)),
        optimizer=d1c.optim.SGD(lr, momentum=momentum),
        target=target,
        dtype=dtype,
        rounding=rounding,
        seed=1,
    )
    t0 = time.perf_counter()
    losses = [prog.step((x,), (y,)).item() for x, y in data]
    return losses, prog.parameters(), (time.perf_counter() - t0) / len(data), prog


def held_out(params: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    m = copy.deepcopy(model())
    m.load_state_dict({k: v.detach() for k, v in params.items()})
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(m(x), y).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--target", default="mini")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--momentum", type=float, default=0.9)
    args = ap.parse_args()
    lr, momentum = args.lr, args.momentum
    xt, yt, xh, yh = dataset()
    data = batches(xt, yt, args.steps, args.batch)
    runs = {"torch fp32": torch_run(data, lr, momentum)}
    progs = {}
    for dtype, rounding in (("fp32", "rne"), ("bf16", "rne"), ("bf16", "sr")):
        *run, progs[f"d1c {dtype} {rounding}"] = d1c_run(
            data, lr, momentum, dtype, rounding, args.target
        )
        runs[f"d1c {dtype} {rounding}"] = tuple(run)
    print(f"train loss every {args.every} steps (batch {args.batch}, {len(yt)} train windows)")
    print(f"{'step':>6}" + "".join(f"{name:>14}" for name in runs))
    for i in range(0, args.steps, args.every):
        print(f"{i + 1:>6}" + "".join(f"{r[0][i]:>14.4f}" for r in runs.values()))
    base = held_out(runs["torch fp32"][1], xh, yh)
    print(f"\nheld-out loss ({len(yh)} windows): torch fp32 {base:.4f}")
    base_time = runs["torch fp32"][2]
    for name, (_, params, secs) in list(runs.items())[1:]:
        h = held_out(params, xh, yh)
        print(
            f"  {name:<13} {h:.4f}  gap {100 * (h / base - 1):+.2f}%  "
            f"{secs:.3f} s/step ({secs / base_time:.0f}x torch eager)"
        )
    rep = progs["d1c bf16 rne"].report()
    print(
        f"\none bf16 step on {args.target}: {rep.cycles:,} cycles on {rep.cores} cores, "
        f"utilization {100 * rep.utilization:.3f}% of peak"
    )


if __name__ == "__main__":
    main()
