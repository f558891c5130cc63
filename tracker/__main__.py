"""`python -m tracker` is the `tracker` command."""

from .cli import cli

cli(prog_name="tracker")
