"""Entry point for ``python -m livethresh``."""

from livethresh.cli import main

# The guard matters: `batch` starts worker processes that import __main__ again.
if __name__ == "__main__":
    main()
