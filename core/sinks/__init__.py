"""Destinations: one contract (`contract.py`), file and HTTP sinks, an in-memory twin, `open_sink`."""
