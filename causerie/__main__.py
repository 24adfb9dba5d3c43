"""``python -m causerie`` runs the command-line interface."""

from causerie.cli import main

if __name__ == "__main__":  # not when the engine process is spawned (it imports this module)
    main()
