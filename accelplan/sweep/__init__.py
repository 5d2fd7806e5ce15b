"""Design-space sweeps (``accelplan sweep``): many independent studies, one Dask task each.

- :mod:`.spec`: the sweep spec (a base study, a grid and/or a list of points; JSON Schema) and its
  expansion into points, each a fully loaded study checked with the sweep file's lines;
- :mod:`.cache`: finished points stored by a hash of what they solve, so a repeated or killed sweep
  recomputes nothing already finished;
- :mod:`.run`: the Dask runner (an embedded ``LocalCluster`` or a running scheduler) and the task a
  worker runs;
- :mod:`.results`: the rows of a sweep, the best point per model and the Pareto front over the
  hardware cost (:mod:`.cost`) and throughput.

Reports are written by :mod:`accelplan.reports.sweep`; :func:`accelplan.api.sweep` chains the steps.
"""
