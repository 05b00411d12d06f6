"""The shim: one process per container that owns its namespaces, stdio, log and exit status."""
