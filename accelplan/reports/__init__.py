"""Outputs read by people and tools: the plan file, the markdown report, the summary table and JSON."""
