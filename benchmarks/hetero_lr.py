"""Hetero LR benchmark: guest, host and arbiter as three OS processes over loopback gRPC.

OMP_NUM_THREADS=1 python benchmarks/hetero_lr.py --dataset synth50k --epochs 5 --key-size 1024 --json
OMP_NUM_THREADS=1 python benchmarks/hetero_lr.py --dataset breast --json
"""

import sys

from fedloom.bench.hetero_lr import main

if __name__ == "__main__":
    sys.exit(main())
