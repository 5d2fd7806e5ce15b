"""How a plan's groups are priced under each kind of execution: pipelines of accelerators, and temporal segments of pipelined clusters."""
