"""``dot`` with a ``scipy.sparse`` matrix: over non-zeros only, the same integers as the dense dot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from fedloom.core.errors import CryptoError
from fedloom.crypto.paillier import PaillierPrivateKey, PaillierPublicKey


def _matrix(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 7)) * (rng.random((40, 7)) < 0.2)
    x[:, 3] = 0.0  # an all-zero column
    x[5, 1] = 1e-12  # a tiny value that encodes to 0
    return x


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_dot_equals_dense_bit_for_bit(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, plain_keypair: tuple, fmt: str
) -> None:
    # Prepare
    x = _matrix()
    d = np.random.default_rng(1).normal(size=40)
    ppk, psk = plain_keypair
    # Execute
    enc, penc = pk.encrypt(d), ppk.encrypt(d)
    dense, sp_ = enc.dot(x), enc.dot(sparse.csr_matrix(x).asformat(fmt))
    pdense, psp = penc.dot(x), penc.dot(sparse.csr_matrix(x).asformat(fmt))
    # Assert: same decoded values, bit for bit, Paillier and plain, dense and sparse
    values = [sk.decrypt(dense), sk.decrypt(sp_), psk.decrypt(pdense), psk.decrypt(psp)]
    for v in values[1:]:
        assert v.tobytes() == values[0].tobytes()
    assert sp_.frac_bits == dense.frac_bits
    np.testing.assert_allclose(values[0], d @ x, atol=1e-5)


def test_sparse_dot_int_and_empty(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    enc = pk.encrypt(np.array([1.0, -2.0, 3.0]))
    m = sparse.csr_matrix(np.array([[0, 2], [0, -1], [0, 0]], dtype=np.int64))
    assert sk.decrypt(enc.dot(m)).tolist() == [0.0, 4.0]
    assert sk.decrypt(enc.dot(sparse.csr_matrix((3, 2)))).tolist() == [0.0, 0.0]
    with pytest.raises(CryptoError, match="length mismatch"):
        enc.dot(sparse.csr_matrix((4, 2)))
