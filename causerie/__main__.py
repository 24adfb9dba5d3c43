"""``python -m causerie`` runs the command-line interface."""

from causerie.cli import main

main()
