"""Entry point for ``python -m livethresh``."""

from livethresh.cli import main

main()
