"""Test support for users and for d1c's own tests: hypothesis strategies (``d1c.testing.strategies``)."""
