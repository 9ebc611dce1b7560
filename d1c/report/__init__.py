"""d1c.report: ``d1c report``, where the simulated time, SRAM and NoC traffic of a program go.

- :mod:`~d1c.report.collect`: the figures (:class:`~d1c.report.collect.Report`) from a program
  and its simulation;
- :mod:`~d1c.report.render`: the terminal table, JSON and the HTML page;
- :mod:`~d1c.report.plot`: heatmaps over the mesh.
"""
