"""The ladder's kill rate (issue 12): every injected fault (d1c.fuzz.faults) is caught.

Default suite: every fault on the MLP (decompose-swap on the GPT block), in every dtype it
applies to, and the fuzzer finding one
fault of each layer. Slow suite (``pytest -m slow``): every fault on every example family (the
numbers ``python -m d1c.fuzz.mutation`` prints), and the fuzzer finding every fault."""

from __future__ import annotations

import pytest

from d1c.fuzz.faults import FAULTS
from d1c.fuzz.mutation import FAMILIES, check_baseline, run_suite, run_trial, summary
from d1c.fuzz.runner import FuzzConfig, run_fuzz

TRIALS = [(name, dtype) for name, f in FAULTS.items() for dtype in f.dtypes]
# The MLP has no sub or div for decompose to swap (no softmax, layer_norm or mean).
FAMILY = {"decompose-swap": "gpt_block"}


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_the_mlp_passes_without_a_fault(dtype: str) -> None:
    assert check_baseline("mlp", dtype).ok
    assert check_baseline("mlp", dtype, rounding="sr").ok  # rungs 1 and 2: SR is not flagged


@pytest.mark.parametrize(("name", "dtype"), TRIALS, ids=[f"{n}-{d}" for n, d in TRIALS])
def test_every_fault_is_caught_on_the_mlp(name: str, dtype: str) -> None:
    trial = run_trial(FAULTS[name], FAMILY.get(name, "mlp"), dtype)
    assert trial.injected, f"{name} changed nothing"
    assert trial.caught and "crash" not in trial.caught, trial
    if FAULTS[name].layer == "quantized semantics":
        assert "2" in trial.caught, trial  # the rung that checks the quantized semantics


def test_a_fault_the_code_never_reaches_is_not_counted() -> None:
    """A CFloat8 bias fault in a bf16 model changes nothing: not injected, so not counted
    (like rne-for-sr on the bf16 GPT block, whose input is token ids: nothing rounds
    stochastically)."""
    trial = run_trial(FAULTS["cfp8-grid-bias"], "mlp", "bf16")
    assert not trial.injected and not trial.caught
    assert "n/a" in summary([trial])


@pytest.mark.parametrize("name", ["double-rounding", "tile-edge", "dma-last-row"])
def test_the_fuzzer_finds_a_fault_of_each_layer(name: str) -> None:
    cfg = FuzzConfig(4, seed=3, target="mini", out=None, shrink_calls=2, torch_share=0, fault=name)
    result = run_fuzz(cfg)
    # a tile that is one row short may leave bytes a later kernel reads unwritten, which the
    # compiler's own check of its memory plan reports (an internal error, not a rejection)
    assert result.found and all(f.failure.prop in ("ladder", "internal") for f in result.found)


@pytest.mark.slow
def test_every_quantized_semantics_and_pass_fault_is_caught_on_every_family() -> None:
    trials = run_suite(families=FAMILIES)
    print(summary(trials))
    for t in trials:
        if FAULTS[t.fault].layer != "simulator":
            assert (t.caught and "crash" not in t.caught) or not t.injected, t
    # not injected: rne-for-sr on the bf16 GPT block (token ids), decompose-swap on the MLP
    assert sum(not t.injected for t in trials) == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_the_fuzzer_finds_every_fault(name: str) -> None:
    cfg = FuzzConfig(20, seed=1, target="mini", out=None, shrink_calls=5, fault=name)
    assert run_fuzz(cfg).found
