"""d1c: a compiler from PyTorch models to a Dojo-class D1 training tile.

This module stays light: importing ``d1c.isa`` (the bottom layer) must not pull in torch. The
Python API (:mod:`d1c.api`: ``d1c.compile``, ``d1c.load``, ``d1c.Program``, ``d1c.Report``) is
imported on first use of those names, as are ``d1c.compile_training`` and ``d1c.optim``
(:mod:`d1c.training`).
"""

__version__ = "0.1.0"
_API = ("compile", "load", "Program", "Report")
__all__ = ["Program", "Report", "__version__", "compile", "compile_training", "load", "optim"]


def __getattr__(name: str):
    if name in _API:
        from d1c import api

        return getattr(api, name)
    if name == "compile_training":
        from d1c.training import compile_training

        return compile_training
    if name == "optim":
        import d1c.optim

        return d1c.optim
    raise AttributeError(f"module 'd1c' has no attribute {name!r}")
