"""``python -m syncframe``: the same command line as the ``syncframe`` script."""

from syncframe.cli import main

if __name__ == "__main__":
    main()
