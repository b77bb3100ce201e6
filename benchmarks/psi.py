"""PSI benchmark: guest and host as two OS processes over loopback gRPC.

OMP_NUM_THREADS=1 python benchmarks/psi.py --method ecdh --n 100000 --json
OMP_NUM_THREADS=1 python benchmarks/psi.py --method rsa --n 10000 [--split] [--key-size 2048] --json
"""

import sys

from fedloom.bench.psi import main

if __name__ == "__main__":
    sys.exit(main())
