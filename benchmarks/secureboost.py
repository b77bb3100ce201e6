"""Hetero SecureBoost benchmark (issue 11): guest and host as two OS processes over loopback gRPC,
XGBoost ``hist`` on the joined table in the same run.

OMP_NUM_THREADS=1 python benchmarks/secureboost.py --trees 5 --depth 3 --key-size 1024 --json
OMP_NUM_THREADS=1 python benchmarks/secureboost.py --rows 1000000 --trees 1 --depth 3 --json
"""

import sys

from fedloom.bench.secureboost import main

if __name__ == "__main__":
    sys.exit(main())
