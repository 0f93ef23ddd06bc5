"""The ``legato`` command line: run workers, start, inspect and stop workflows.

The entry point is :func:`legato.cli.main.main` (console script ``legato``; also
``python -m legato.cli.main``). This package deliberately imports nothing at import time, so
that ``python -m legato.cli.main`` runs without a ``runpy`` warning.
"""
