"""d1c: a compiler from PyTorch models to a Dojo-class D1 training tile.

This module stays light: importing ``d1c.isa`` (the bottom layer) must not pull in torch.
"""

__version__ = "0.1.0"
