"""hedge command line: one module per command group, calling only the public API."""
