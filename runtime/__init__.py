"""d1c.runtime."""
