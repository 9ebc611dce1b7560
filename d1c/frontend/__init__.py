"""d1c.frontend."""
