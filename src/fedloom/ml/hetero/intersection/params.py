"""Parameters of the intersection: FATE 1.11's ``IntersectParam`` names and nesting.

Every name of FATE's ``IntersectParam`` is accepted (so FATE confs run unchanged); an unknown name
is a :class:`~fedloom.core.ConfigError` naming it (``rsa_params.key_lenght``). Names that
configure features fedloom does not implement are accepted at their defaults and refused with a
ConfigError when switched on (``join_method: left_join``,
``intersect_method: raw``); names FATE itself deprecated are accepted and ignored.

Differences from FATE's defaults, on purpose: ``intersect_method`` is ``ecdh`` (FATE: ``rsa``),
``rsa_params.key_length`` is 2048 (FATE: 1024), and ``dh_params.key_length`` picks an RFC 3526
group of at least 2048 bits (FATE: a fresh 1024-bit prime; 1024 is accepted, runs on 2048 and
logs a warning).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fedloom.ml.hetero.params_common import (
    AlgorithmParams,
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


class _IdHashing(ParamBlock):
    """How a PSI method hashes ids (the first fields of ``rsa_params``, ``ecdh_params``, ``dh_params``).

    Attributes
    ----------
    salt
        Appended to every id before hashing (both sides must agree).
    hash_method
        H, the hash of ids into the method's group (Z_n for RSA): sha256, sha384, sha512, sm3.
    """

    salt: str = ""
    hash_method: IdHash = "sha256"


class RsaParams(_IdHashing):
    """``rsa_params``: H, H_f, key size and the two optimisations of RSA PSI.

    Attributes
    ----------
    salt, hash_method
        As in every method (H: the full-domain hash into Z_n).
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


class EcdhParams(_IdHashing):
    """``ecdh_params``: how ids are hashed into the group, and the group.

    Attributes
    ----------
    salt, hash_method
        As in every method.
    curve
        ``curve25519`` (X25519, FATE's name; default) or ``edwards25519`` (prime-order subgroup).
    """

    curve: Annotated[str, any_case("curve25519", "edwards25519")] = "curve25519"


class DhParams(_IdHashing):
    """``dh_params``: FATE's DH method (Pohlig–Hellman over an RFC 3526 MODP group).

    Attributes
    ----------
    salt, hash_method
        As in every method (FATE also lists md5 / sha1 / sha224 for H; too short for a
        full-domain hash, refused).
    key_length
        Bits of the MODP group: 2048 (default), 3072, 4096; 1024 (FATE's default) runs on the
        2048-bit group with a warning.
    """

    key_length: StrictInt = 2048

    @field_validator("key_length")
    @classmethod
    def _group(cls, v: int) -> int:
        if v not in (1024, 2048, 3072, 4096):
            raise ValueError("must be one of 1024 (runs on the 2048-bit group), 2048, 3072, 4096")
        return v


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
    """``intersect_preprocess_params``: the Bloom-filter prefilter of ``run_preprocess``.

    See :mod:`fedloom.protocols.psi.preprocess` for the filter and **what it discloses** (a
    membership oracle for the owner's ids, wrong at rate ``false_positive_rate``: much weaker
    than PSI).

    Attributes
    ----------
    false_positive_rate
        Target false-positive rate of the filter, in (0, 0.5].
    encrypt_method
        FATE: the cardinality protocol run after the filter; accepted and unused (fedloom
        refuses ``run_preprocess`` with ``cardinality_only``).
    hash_method
        Hash deriving the filter's bit positions (md5 ... sm3).
    preprocess_method
        Hash of ``salt ‖ id`` before insertion (md5 ... sm3).
    preprocess_salt
        Salt mixed into every id before insertion (both sides must agree).
    random_state
        None (fresh filter seed per run) or an int (reproducible filter).
    filter_owner
        ``guest`` (default) or ``host``: who builds and sends the filter.
    """

    false_positive_rate: float = Field(default=1e-3, gt=0.0, le=0.5)
    encrypt_method: str = "rsa"
    hash_method: FinalHash = "sha256"
    preprocess_method: FinalHash = "sha256"
    preprocess_salt: str = ""
    random_state: int | None = None
    filter_owner: Literal["guest", "host"] = "guest"


class IntersectParams(AlgorithmParams):
    """All parameters of the intersection (FATE's ``IntersectParam``).

    The ones that matter:

    intersect_method
        ``ecdh`` (default), ``rsa`` or ``dh``.
    sync_intersect_ids
        Hosts learn the final intersection (restricted to their ids). Default True.
    only_output_key
        The component outputs ids only (no feature columns).
    cardinality_only
        Only the size of the intersection is computed; no party learns which ids. Runs the DH
        protocol with ``cardinality_method: dh``, else ECDH (RSA blind signatures cannot hide
        which of the guest's ids matched, so ``rsa`` also runs ECDH); one host only.
    sync_cardinality
        In cardinality-only mode, hosts learn the size too.
    run_cache
        FATE's cache job (RSA only, no split): no intersection, the component outputs a
        ``cache`` (the host's key and signed ids) that a later ``Intersection`` with a ``cache``
        input (from this job, or through ``CacheLoader`` from another) reuses.
    run_preprocess
        Prefilter the ids with a Bloom filter before the PSI (``intersect_preprocess_params``;
        see :class:`IntersectPreprocessParams` for what it discloses).
    rsa_params, ecdh_params, dh_params
        See :class:`RsaParams`, :class:`EcdhParams`, :class:`DhParams`.
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
    run_cache: StrictBool = False
    run_preprocess: StrictBool = False
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
        return low

    @field_validator("run_cache")
    @classmethod
    def _cache(cls, v: bool, info: ValidationInfo) -> bool:
        if v and (info.data.get("intersect_method") != "rsa" or info.data.get("cardinality_only")):
            raise ValueError(
                "caches the RSA host's key and signed ids: it needs intersect_method 'rsa' without "
                "cardinality_only"
            )
        rsa = info.data.get("rsa_params")
        if v and rsa is not None and rsa.split_calculation:
            raise ValueError("with rsa_params.split_calculation is not implemented")
        return v

    @field_validator("run_preprocess")
    @classmethod
    def _preprocess(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("cardinality_only"):
            raise ValueError(
                "with cardinality_only is refused: the Bloom filter would show the receiving side "
                "which of its ids match, which cardinality_only promises to hide"
            )
        return v

    @model_validator(mode="after")
    def _cross(self) -> IntersectParams:
        if self.new_sample_id:
            raise ValueError("new_sample_id only applies to left_join, which is not implemented")
        return self

    @property
    def effective_method(self) -> str:
        """The protocol that runs: in cardinality-only mode ``dh`` if ``cardinality_method`` says
        so, else ``ecdh``; otherwise ``intersect_method``."""
        if self.cardinality_only:
            return "dh" if self.cardinality_method == "dh" else "ecdh"
        return self.intersect_method
