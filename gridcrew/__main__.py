"""``python -m gridcrew``: the same command as ``gridcrew`` (the composition root, ops.cli)."""

from ops.cli import main

main()
