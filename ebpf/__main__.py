"""`python -m ebpf ...`: the `candela ebpf` commands without the rest of the CLI."""

from __future__ import annotations

import sys

from ebpf.cli import main

sys.exit(main(["ebpf", *sys.argv[1:]]))
