"""Parameters of the intersection: FATE 1.11's ``IntersectParam`` names and nesting.

Every name of FATE's ``IntersectParam`` is accepted (so FATE confs run unchanged); an unknown name
is a :class:`~fedloom.core.ConfigError` naming it (``rsa_params.key_lenght``). Names that
configure features fedloom does not implement are accepted at their defaults and refused with a
ConfigError when switched on (``join_method: left_join``, ``run_preprocess``, ``run_cache``,
``intersect_method: raw | dh``); names FATE itself deprecated are accepted and ignored.

Differences from FATE's defaults, on purpose: ``intersect_method`` is ``ecdh`` (FATE: ``rsa``) and
``rsa_params.key_length`` is 2048 (FATE: 1024).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, StrictBool, StrictInt, field_validator, model_validator

from fedloom.ml.hetero.params_common import (
    AlgorithmParams,
    NotImplementedFlag,
    ParamBlock,
    any_case,
    canonical,
    only_first,
)

ALL_HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
ID_HASHES = ("sha256", "sha384", "sha512", "sm3")


def _hash_choice(value: object, allowed: tuple[str, ...]) -> str:
    name = canonical(value, allowed)
    if name not in hashlib.algorithms_available:
        raise ValueError(f"{name!r} is not provided by this Python's OpenSSL")
    return name


#: H, the hash of ids into the group / Z_n.
IdHash = Annotated[str, BeforeValidator(lambda v: _hash_choice(v, ID_HASHES))]
#: H_f, the final hash of RSA signatures.
FinalHash = Annotated[str, BeforeValidator(lambda v: _hash_choice(v, ALL_HASHES))]


class RsaParams(ParamBlock):
    """``rsa_params``: H, H_f, key size and the two optimisations of RSA PSI.

    Attributes
    ----------
    salt
        Appended to every id before hashing (both sides must agree).
    hash_method
        H, the full-domain hash into Z_n: sha256, sha384, sha512, sm3.
    final_hash_method
        H_f, applied to signatures: md5, sha1, sha224, sha256, sha384, sha512, sm3.
    split_calculation
        Split ids by H(x) % 2 between the host's and the guest's key (symmetric work). The host
        joins the guest-key half, so it learns about half of the intersection even without
        ``sync_intersect_ids``.
    random_base_fraction
        None, or a fraction in (0, 1] of blinding factors precomputed and reused (FATE: < 0.01
        counts as 0.01, > 0.99 as 1). Reuse lets the signer test guessed pairs of ids.
    key_length
        RSA modulus bits, >= 1024 (default 2048).
    random_bit
        Accepted for FATE compatibility; fedloom always draws r uniformly from Z_n*.
    """

    salt: str = ""
    hash_method: IdHash = "sha256"
    final_hash_method: FinalHash = "sha256"
    split_calculation: StrictBool = False
    random_base_fraction: float | None = None
    key_length: StrictInt = Field(default=2048, ge=1024, le=8192)
    random_bit: StrictInt = Field(default=128, ge=1)

    @field_validator("random_base_fraction")
    @classmethod
    def _frac(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v <= 1.0:
            raise ValueError("must be None or a fraction in (0, 1]")
        return v


class EcdhParams(ParamBlock):
    """``ecdh_params``: how ids are hashed into the group, and the group.

    Attributes
    ----------
    salt
        Appended to every id before hashing.
    hash_method
        sha256, sha384, sha512, sm3.
    curve
        ``curve25519`` (X25519, FATE's name; default) or ``edwards25519`` (prime-order subgroup).
    """

    salt: str = ""
    hash_method: IdHash = "sha256"
    curve: Annotated[str, any_case("curve25519", "edwards25519")] = "curve25519"


class DhParams(ParamBlock):
    """``dh_params`` (FATE's DH method; accepted, not implemented: use ecdh)."""

    salt: str = ""
    hash_method: str = "sha256"
    key_length: StrictInt = Field(default=1024, ge=1024)


class RawParams(ParamBlock):
    """``raw_params`` (FATE's raw method sends ids in the clear; accepted, not implemented)."""

    use_hash: StrictBool = False
    salt: str = ""
    hash_method: str = "none"
    base64: StrictBool = False
    join_role: Literal["guest", "host"] = "guest"


class EncodeParams(ParamBlock):
    """``encode_params`` (deprecated in FATE; accepted and ignored)."""

    salt: str = ""
    encode_method: str = "none"
    base64: StrictBool = False


class IntersectCacheParams(ParamBlock):
    """``intersect_cache_param`` (ignored by FATE since 1.7; accepted and ignored)."""

    use_cache: StrictBool = False
    id_type: str = "phone"
    encrypt_type: str = "sha256"


class IntersectPreprocessParams(ParamBlock):
    """``intersect_preprocess_params`` (Bloom-filter preprocessing; accepted, not used: fedloom's
    cardinality mode is exact)."""

    false_positive_rate: float = Field(default=1e-3, gt=0.0, le=0.5)
    encrypt_method: str = "rsa"
    hash_method: str = "sha256"
    preprocess_method: str = "sha256"
    preprocess_salt: str = ""
    random_state: int | None = None
    filter_owner: Literal["guest", "host"] = "guest"


class IntersectParams(AlgorithmParams):
    """All parameters of the intersection (FATE's ``IntersectParam``).

    The ones that matter:

    intersect_method
        ``ecdh`` (default) or ``rsa``.
    sync_intersect_ids
        Hosts learn the final intersection (restricted to their ids). Default True.
    only_output_key
        The component outputs ids only (no feature columns).
    cardinality_only
        Only the size of the intersection is computed; no party learns which ids. Always runs
        the ECDH protocol (RSA blind signatures cannot hide which of the guest's ids matched),
        whatever ``cardinality_method`` says; one host only.
    sync_cardinality
        In cardinality-only mode, hosts learn the size too.
    rsa_params, ecdh_params
        See :class:`RsaParams`, :class:`EcdhParams`.
    """

    algorithm: ClassVar[str] = "Intersection"

    intersect_method: str = "ecdh"
    sync_intersect_ids: StrictBool = True
    only_output_key: StrictBool = False
    cardinality_only: StrictBool = False
    sync_cardinality: StrictBool = False
    cardinality_method: Annotated[str, any_case("ecdh", "rsa", "dh")] = "ecdh"
    rsa_params: RsaParams = Field(default_factory=RsaParams)
    ecdh_params: EcdhParams = Field(default_factory=EcdhParams)
    dh_params: DhParams = Field(default_factory=DhParams)
    raw_params: RawParams = Field(default_factory=RawParams)
    intersect_preprocess_params: IntersectPreprocessParams = Field(default_factory=IntersectPreprocessParams)
    join_method: Annotated[str, only_first("inner_join", "left_join")] = "inner_join"
    new_sample_id: StrictBool = False
    sample_id_generator: Literal["guest", "host"] = "guest"
    run_cache: NotImplementedFlag = False
    run_preprocess: NotImplementedFlag = False
    # Deprecated in FATE 1.7+ (accepted, ignored).
    random_bit: StrictInt | None = None
    join_role: Literal["guest", "host"] = "guest"
    with_encode: StrictBool = False
    encode_params: EncodeParams = Field(default_factory=EncodeParams)
    intersect_cache_param: IntersectCacheParams = Field(default_factory=IntersectCacheParams)
    repeated_id_process: StrictBool = False
    repeated_id_owner: str = "guest"
    with_sample_id: StrictBool = False
    allow_info_share: StrictBool = False
    info_owner: str = "guest"

    @field_validator("intersect_method", mode="before")
    @classmethod
    def _method(cls, v: object) -> str:
        low = canonical(v, ("ecdh", "rsa", "dh", "raw"))
        if low == "raw":
            raise ValueError("'raw' sends ids in the clear and is not offered; use 'ecdh' or 'rsa'")
        if low == "dh":
            raise ValueError("'dh' is not implemented; 'ecdh' is the same protocol on a faster group")
        return low

    @model_validator(mode="after")
    def _cross(self) -> IntersectParams:
        if self.new_sample_id:
            raise ValueError("new_sample_id only applies to left_join, which is not implemented")
        return self

    @property
    def effective_method(self) -> str:
        """The protocol that runs: ``ecdh`` in cardinality-only mode, else ``intersect_method``."""
        return "ecdh" if self.cardinality_only else self.intersect_method
