r"""Paillier encryption for fedloom: keys, fixed-point vectors, packing, fast obfuscation.

>>> from fedloom.crypto.paillier import generate_keypair
>>> pk, sk = generate_keypair(2048)                # doctest: +SKIP
>>> ev = pk.encrypt(np.array([0.5, -1.25]))        # doctest: +SKIP
>>> sk.decrypt(ev * 2 + ev)                        # doctest: +SKIP
array([ 1.5 , -3.75])

The algebra: :math:`D(E(a) \cdot E(b) \bmod n^2) = a + b \bmod n`,
:math:`D(E(a)^k \bmod n^2) = k a \bmod n`. Module map:

* :mod:`.keys` — key generation, public key (de)serialisation, encryption, CRT decryption;
* :mod:`.encoding` — fixed point, sign in the upper third, overflow detection;
* :mod:`.obfuscation` — DJN fixed-base obfuscators, comb tables, CRT, background pool
  (with the security argument of each choice);
* :mod:`.sender` — :class:`~.sender.SenderObfuscator`, cheap re-randomisation of what goes to
  the key owner (``EncryptedVector.rerandomize(obfuscator=...)``);
* :mod:`.vector` — :class:`EncryptedVector` and its homomorphic operations;
* :mod:`.multiexp` — batch inversion, bucket multi-exponentiation (``dot``);
* :mod:`.packing` — :class:`Packer`;
* :mod:`.parallel` — worker threads (:func:`set_num_workers`);
* :mod:`.plain` — the insecure ``plain`` cipher with the same interface.
"""

from fedloom.crypto.paillier.encoding import DEFAULT_FRAC_BITS, MUL_PRECISION_BITS
from fedloom.crypto.paillier.keys import (
    DEFAULT_KEY_SIZE,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_keypair,
)
from fedloom.crypto.paillier.obfuscation import ObfuscatorPool
from fedloom.crypto.paillier.packing import Packer
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.crypto.paillier.plain import PlainPrivateKey, PlainPublicKey, PlainVector
from fedloom.crypto.paillier.sender import SenderObfuscator
from fedloom.crypto.paillier.vector import EncryptedVector

__all__ = [
    "DEFAULT_FRAC_BITS",
    "DEFAULT_KEY_SIZE",
    "MUL_PRECISION_BITS",
    "EncryptedVector",
    "ObfuscatorPool",
    "Packer",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "PlainPrivateKey",
    "PlainPublicKey",
    "PlainVector",
    "SenderObfuscator",
    "generate_keypair",
    "get_num_workers",
    "set_num_workers",
]
