"""``python -m cicld_core.evaluate``: the evaluate command under its older name (README and the
benchmarks call it so); it lives in cicld_core.evaluation.__main__."""
import sys

from .evaluation.__main__ import format_table, main, parse_args, report  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
