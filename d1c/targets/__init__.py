"""d1c.targets."""
