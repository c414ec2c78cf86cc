"""`python -m cnnlab` is the same as the `cnnlab` command."""

from cnnlab.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    main()
