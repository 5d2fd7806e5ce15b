"""Optimisation models built from a :class:`~accelplan.problem.Problem`, independent of any solver."""
