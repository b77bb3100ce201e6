"""Hetero NN benchmark (issue 12): guest and host as two OS processes over loopback gRPC, the
centralised PyTorch network of the same architecture in the same run.

OMP_NUM_THREADS=1 python benchmarks/hetero_nn.py --dataset synth50k --epochs 3 --key-size 1024 --json
OMP_NUM_THREADS=1 python benchmarks/hetero_nn.py --epochs 3 --cipher plain --json
"""

import sys

from fedloom.bench.hetero_nn import main

if __name__ == "__main__":
    sys.exit(main())
