"""d1c: a compiler from PyTorch models to a Dojo-class D1 training tile.

This module stays light: importing ``d1c.isa`` (the bottom layer) must not pull in torch. The
Python API (:mod:`d1c.api`: ``d1c.compile``, ``d1c.load``, ``d1c.Program``, ``d1c.Report``) is
imported on first use of those names.
"""

__version__ = "0.1.0"
_API = ("compile", "load", "Program", "Report")
__all__ = ["Program", "Report", "__version__", "compile", "load"]


def __getattr__(name: str):
    if name in _API:
        from d1c import api

        return getattr(api, name)
    raise AttributeError(f"module 'd1c' has no attribute {name!r}")
