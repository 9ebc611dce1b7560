"""d1c.runtime: the bit-accurate simulator (:func:`simulate`), its timing model and host kernels."""

from __future__ import annotations


def __getattr__(name: str):
    # Lazy, so that importing a runtime submodule (e.g. the JIT kernels) stays light.
    if name in ("simulate", "SimResult", "CoreStats"):
        from d1c.runtime import sim

        return getattr(sim, name)
    raise AttributeError(name)
