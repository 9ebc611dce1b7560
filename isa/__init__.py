"""d1c.isa: numeric formats, the D1 tile instruction table, encoding, assembly, the .d1x container.

This package is the bottom layer of d1c: it imports nothing else from the project.
"""
