"""``python -m anymail_conformance [pytest options]``: run the suite for every
installed ESP that ships a profile, with the suite's own Django settings unless
DJANGO_SETTINGS_MODULE is set."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    if "DJANGO_SETTINGS_MODULE" not in os.environ and not any(
        arg == "--ds" or arg.startswith("--ds=") for arg in args
    ):
        args = ["--ds=anymail_conformance.settings", *args]
    # (`python -m` imported this package before pytest could mark it for assertion
    # rewriting; the suite's test modules are still rewritten.)
    quiet = "ignore:Module already imported:pytest.PytestAssertRewriteWarning"
    return int(
        pytest.main(
            ["-p", "no:cacheprovider", "-W", quiet, "--pyargs", "anymail_conformance", *args]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
