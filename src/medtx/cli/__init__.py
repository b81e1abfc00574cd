"""The ``medtx`` command, one module per verb group."""
