"""``python -m services.rules.stream``: the rules worker, configured from ``CAREWATCH_*`` variables."""

from services.rules.stream.cli import main

main()
