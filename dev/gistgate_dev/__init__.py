"""Development tools, never deployed: the local stack (``make dev``), the fakes it runs
against, and the ``gistgate`` command-line client. Lives outside ``layers/``, so no
layer build can pick it up."""
