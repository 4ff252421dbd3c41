"""``python -m wess``."""

from wess.cli import main

main()
