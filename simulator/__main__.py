"""`python -m simulator`: the same as `mimecast-source simulator`."""

from cli.simulator import simulator

simulator()
