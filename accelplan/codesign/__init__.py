"""Hardware co-design (``accelplan codesign``): Optuna searches the hardware, each candidate's plan solved exactly.

- :mod:`.spec`: the co-design spec (a base study, hardware parameters by dotted path as sweeps name them, with
  ranges or choices, the data type, objectives, cost and limits; JSON Schema) and the candidate of a trial;
- :mod:`.run`: the ask-and-tell loop (in this process or on the sweeps' Dask cluster), pruning by a larger
  candidate's proven bound, the Optuna storage (journal file by default) that makes a run resumable;
- :mod:`.results`: the trials as rows, the Pareto front and Optuna's parameter importances;
- :mod:`.report`: the CSV files, the figure and the report.

:func:`accelplan.api.codesign` chains the steps and writes the outputs.
"""
