"""Analytical cost models, one module per hardware family."""
