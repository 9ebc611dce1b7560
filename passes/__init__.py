"""d1c.passes."""
