"""Hetero feature binning benchmark (issue 10): guest and host as two OS processes over loopback gRPC.

OMP_NUM_THREADS=1 python benchmarks/binning.py --rows 100000 --guest-features 30 --host-features 300 --json
OMP_NUM_THREADS=1 python benchmarks/binning.py --rows 10000 --classes 3 --cipher plain --json
"""

import sys

from fedloom.bench.binning import main

if __name__ == "__main__":
    sys.exit(main())
