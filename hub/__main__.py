"""`python -m hub ...` is the `sesshu` command."""

from hub.cli import app

app()
