"""Cryptography of fedloom; knows nothing of transport and never unpickles.

* :mod:`fedloom.crypto.paillier` — Paillier keys, fixed-point encrypted vectors, packing, fast
  obfuscation, and the insecure ``plain`` stand-in with the same interface;
* :mod:`fedloom.crypto.cipher` — pick ``"paillier"`` or ``"plain"`` by name;
* the PSI primitives (RSA blind signatures, ECDH) live in their own modules of this package.
"""
