"""Private set intersection: ECDH (default), RSA blind signatures and DH (MODP), guest and host sides.

Each side is one class with ``run(ctx, ids) -> PsiOutcome``; ids must be distinct strings (the
caller validates them). Channels are declared in :mod:`fedloom.protocols.psi.messages`.
"""

from fedloom.protocols.psi.common import PsiOutcome
from fedloom.protocols.psi.dh import DhPsiGuest, DhPsiHost
from fedloom.protocols.psi.ecdh import EcdhPsiGuest, EcdhPsiHost
from fedloom.protocols.psi.rsa import RsaPsiGuest, RsaPsiHost

__all__ = [
    "DhPsiGuest",
    "DhPsiHost",
    "EcdhPsiGuest",
    "EcdhPsiHost",
    "PsiOutcome",
    "RsaPsiGuest",
    "RsaPsiHost",
]
