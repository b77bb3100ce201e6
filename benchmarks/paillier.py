"""Paillier benchmark: fedloom vs python-paillier on one core.

OMP_NUM_THREADS=1 python benchmarks/paillier.py [--key-size 2048] [--n 2000] [--quick] --json
"""

import sys

from fedloom.bench.paillier import main

if __name__ == "__main__":
    sys.exit(main())
