"""Typed records of the SecureBoost messages, validated where they are received.

Everything a party receives from a peer is untrusted: it is checked here, once, before the
algorithm uses it; any problem is a :class:`~fedloom.core.errors.MessageError` naming the sender
(``party``) and the field. Ciphertext vectors are checked for key, count and scale **before**
the guest decrypts anything.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedloom.core.errors import MessageError
from fedloom.crypto.paillier import EncryptedVector, PlainVector
from fedloom.ml.hetero.records_common import expect_count, expect_digest

#: Most rows a job may announce.
MAX_ROWS = 1 << 40
#: Most features of one party.
MAX_FEATURES = 1 << 20
#: Most split candidates of one host at one node.
MAX_CANDIDATES = 1 << 24
#: Most trees of a model.
MAX_TREES = 1 << 20


def fail(what: str, sender: str, field: str) -> MessageError:
    """A MessageError naming the sender and field."""
    return MessageError(f"{field} from {sender}: {what}", party=sender, field=field)


def _fields(value: object, sender: str, record: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"expected a {record} record (a dict). Got {type(value).__name__}.", sender, record)
    missing = [k for k in keys if k not in value]
    extra = [k for k in value if k not in keys]
    if missing or extra:
        raise fail(f"{record} record with missing {missing} / unexpected {extra} fields", sender, record)
    return value


def int_array(value: object, sender: str, field: str, length: int | None, low: int, high: int) -> np.ndarray:
    """A 1-D int array (of ``length`` when given) with values in ``[low, high]``."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.ndim != 1:
        raise fail(f"expected a 1-D int array. Got {type(value).__name__}.", sender, field)
    if length is not None and len(value) != length:
        raise fail(f"{len(value)} values where {length} were expected", sender, field)
    out = value.astype(np.int64)
    if len(out) and (int(out.min()) < low or int(out.max()) > high):
        raise fail(f"values outside [{low}, {high}]", sender, field)
    return out


def expect_vector(value: object, sender: str, field: str, public_key: Any, length: int) -> Any:
    """A ciphertext vector under ``public_key`` of ``length`` integer ciphertexts."""
    if not isinstance(value, EncryptedVector | PlainVector):
        raise fail(f"expected a ciphertext vector. Got {type(value).__name__}.", sender, field)
    if value.public_key != public_key:
        raise fail("ciphertexts under another key than the one accepted", sender, field)
    if len(value) != length or value.frac_bits != 0:
        raise fail(
            f"{len(value)} ciphertexts (frac_bits {value.frac_bits}) where {length} integer ones "
            "were expected",
            sender,
            field,
        )
    return value


def expect_flag(value: object, sender: str, field: str) -> bool:
    """A boolean (``True`` / ``False`` or a numpy bool)."""
    if not isinstance(value, bool | np.bool_):
        raise fail(f"expected a boolean. Got {type(value).__name__}.", sender, field)
    return bool(value)


def anonymous_name(party_id: str, index: int) -> str:
    """The name the guest knows a host feature by: ``host_<party_id>_<feature index>``."""
    return f"host_{party_id}_{index}"


@dataclass(frozen=True)
class HostSetup:
    """``HOST_SETUP``: the host's digests, rows and feature count."""

    ids: str
    n_rows: int
    n_features: int
    validate_ids: str | None
    validate_rows: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, value: object, sender: str) -> HostSetup:
        """Validate a received host setup."""
        v = _fields(
            value, sender, "host_setup", ("ids", "n_rows", "n_features", "validate_ids", "validate_rows")
        )
        return cls(
            str(expect_digest(v["ids"], sender, "ids")),
            expect_count(v["n_rows"], sender, "n_rows", 1, MAX_ROWS),
            expect_count(v["n_features"], sender, "n_features", 0, MAX_FEATURES),
            expect_digest(v["validate_ids"], sender, "validate_ids", optional=True),
            expect_count(v["validate_rows"], sender, "validate_rows", 0, MAX_ROWS),
        )


@dataclass(frozen=True)
class Setup:
    """``SETUP``: the guest's digests and rows, and the warm-start model's tree count."""

    ids: str
    n_rows: int
    validate_ids: str | None
    validate_rows: int
    init_trees: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, value: object, sender: str) -> Setup:
        """Validate a received setup."""
        v = _fields(value, sender, "setup", ("ids", "n_rows", "validate_ids", "validate_rows", "init_trees"))
        return cls(
            str(expect_digest(v["ids"], sender, "ids")),
            expect_count(v["n_rows"], sender, "n_rows", 1, MAX_ROWS),
            expect_digest(v["validate_ids"], sender, "validate_ids", optional=True),
            expect_count(v["validate_rows"], sender, "validate_rows", 0, MAX_ROWS),
            expect_count(v["init_trees"], sender, "init_trees", 0, MAX_TREES),
        )


@dataclass(frozen=True)
class Command:
    """``COMMAND``: ``tree`` (``index``, ``federated``), ``decisions`` (``data``, ``lo``, ``hi``),
    or ``stop``."""

    action: str
    index: int = 0
    federated: bool = True
    data: str = "train"
    lo: int = 0
    hi: int = 0

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, value: object, sender: str, n_trees: int) -> Command:
        """Validate a command; ``n_trees``: the trees the host has so far."""
        v = _fields(value, sender, "command", ("action", "index", "federated", "data", "lo", "hi"))
        action = v["action"]
        if action not in ("tree", "decisions", "stop"):
            raise fail(f"unknown action {action!r:.40}", sender, "action")
        data = v["data"]
        if data not in ("train", "validate"):
            raise fail(f"unknown data {data!r:.40}", sender, "data")
        cmd = cls(
            action,
            expect_count(v["index"], sender, "index", 0, MAX_TREES),
            expect_flag(v["federated"], sender, "federated"),
            data,
            expect_count(v["lo"], sender, "lo", 0, MAX_TREES),
            expect_count(v["hi"], sender, "hi", 0, MAX_TREES),
        )
        if action == "tree" and cmd.index != n_trees:
            raise fail(f"tree {cmd.index} announced where tree {n_trees} comes next", sender, "index")
        if action == "decisions" and not cmd.lo <= cmd.hi <= n_trees:
            raise fail(f"trees [{cmd.lo}, {cmd.hi}) asked of {n_trees}", sender, "hi")
        return cmd


@dataclass(frozen=True)
class EncGH:
    """``ENC_GH``: the tree's sampled rows, the chunk widths and one vector per chunk."""

    rows: np.ndarray
    widths: list[int]
    gh: list[Any]

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"rows": self.rows.astype(np.int64), "widths": list(self.widths), "gh": list(self.gh)}

    @classmethod
    def from_wire(cls, value: object, sender: str, n_rows: int, public_key: Any, capacity: int) -> EncGH:
        """Validate: ascending distinct rows, widths within the key's capacity, one ciphertext per
        sampled row and chunk."""
        v = _fields(value, sender, "enc_gh", ("rows", "widths", "gh"))
        rows = int_array(v["rows"], sender, "rows", None, 0, n_rows - 1)
        if len(rows) == 0 or np.any(np.diff(rows) <= 0):
            raise fail("rows must be ascending, distinct and not empty", sender, "rows")
        widths = v["widths"]
        if (
            not isinstance(widths, list)
            or not 1 <= len(widths) <= 64
            or not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= capacity for w in widths)
        ):
            raise fail(f"expected 1 to 64 chunk widths in [1, {capacity}]", sender, "widths")
        gh = v["gh"]
        if not isinstance(gh, list) or len(gh) != len(widths):
            raise fail(f"expected {len(widths)} ciphertext vectors", sender, "gh")
        return cls(rows, widths, [expect_vector(g, sender, "gh", public_key, len(rows)) for g in gh])


@dataclass(frozen=True)
class Nodes:
    """``NODES``: the level's node ids, their parents, which are split, and each sampled row's node.

    No nodes: the tree is done (sent after the last level, without membership)."""

    nodes: np.ndarray
    parents: np.ndarray
    split: np.ndarray
    node_of: np.ndarray

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {
            "nodes": self.nodes.astype(np.int64),
            "parents": self.parents.astype(np.int64),
            "split": self.split.astype(np.uint8),
            "node_of": self.node_of.astype(np.int32),
        }

    @classmethod
    def from_wire(cls, value: object, sender: str, n_sampled: int) -> Nodes:
        """Validate the level's membership."""
        v = _fields(value, sender, "nodes", ("nodes", "parents", "split", "node_of"))
        nodes = int_array(v["nodes"], sender, "nodes", None, 0, MAX_ROWS)
        if len(set(nodes.tolist())) != len(nodes):
            raise fail("node ids must be distinct", sender, "nodes")
        parents = int_array(v["parents"], sender, "parents", len(nodes), -1, MAX_ROWS)
        split = int_array(v["split"], sender, "split", len(nodes), 0, 1).astype(bool)
        node_of = int_array(v["node_of"], sender, "node_of", n_sampled, -1, len(nodes) - 1)
        return cls(nodes, parents, split, node_of)


@dataclass(frozen=True)
class HostSplits:
    """``HOST_SPLITS``: candidates per split node, each candidate's left row count (in clear) and,
    per chunk, the packed encrypted left sums."""

    counts: np.ndarray
    n_left: np.ndarray
    sums: list[Any]

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {
            "counts": self.counts.astype(np.int64),
            "n_left": self.n_left.astype(np.int64),
            "sums": list(self.sums),
        }

    @classmethod
    def from_wire(
        cls, value: object, sender: str, *, node_rows: list[int], public_key: Any, slots: list[int]
    ) -> HostSplits:
        """Validate before decrypting: one count per split node (``node_rows``: their rows), left
        row counts within ``[1, rows − 1]`` of their node, and per chunk exactly
        ``ceil(total / slots[c])`` integer ciphertexts under the guest's key."""
        v = _fields(value, sender, "host_splits", ("counts", "n_left", "sums"))
        counts = int_array(v["counts"], sender, "counts", len(node_rows), 0, MAX_CANDIDATES)
        total = int(counts.sum())
        n_left = int_array(v["n_left"], sender, "n_left", total, 1, MAX_ROWS)
        limit = np.repeat(np.asarray(node_rows, dtype=np.int64), counts)
        if np.any(n_left >= limit):
            raise fail("a candidate leaves no row on its right", sender, "n_left")
        sums = v["sums"]
        if not isinstance(sums, list) or len(sums) != len(slots):
            raise fail(f"expected {len(slots)} ciphertext vectors (one per chunk)", sender, "sums")
        return cls(
            counts,
            n_left,
            [
                expect_vector(s, sender, "sums", public_key, math.ceil(total / k))
                for s, k in zip(sums, slots, strict=True)
            ],
        )


@dataclass(frozen=True)
class SplitChoice:
    """``SPLIT_CHOICE``: the host's winning candidates: node, candidate, left and right child ids."""

    nodes: np.ndarray
    candidates: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {k: np.asarray(v, dtype=np.int64) for k, v in self.__dict__.items()}

    @classmethod
    def from_wire(cls, value: object, sender: str, counts: dict[int, int]) -> SplitChoice:
        """Validate against this host's split nodes and their candidate counts."""
        v = _fields(value, sender, "split_choice", ("nodes", "candidates", "left", "right"))
        nodes = int_array(v["nodes"], sender, "nodes", None, 0, MAX_ROWS)
        if len(set(nodes.tolist())) != len(nodes) or not set(nodes.tolist()) <= set(counts):
            raise fail("nodes must be distinct nodes this host offered candidates for", sender, "nodes")
        cands = int_array(v["candidates"], sender, "candidates", len(nodes), 0, MAX_CANDIDATES)
        if any(c >= counts[n] for n, c in zip(nodes.tolist(), cands.tolist(), strict=True)):
            raise fail("a candidate id beyond the node's candidates", sender, "candidates")
        left = int_array(v["left"], sender, "left", len(nodes), 1, MAX_ROWS)
        right = int_array(v["right"], sender, "right", len(nodes), 1, MAX_ROWS)
        return cls(nodes, cands, left, right)


@dataclass(frozen=True)
class HostLeft:
    """``HOST_LEFT``: per won node its feature's anonymous name, and its rows going left (concatenated)."""

    features: list[str]
    left: np.ndarray

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"features": list(self.features), "left": self.left.astype(np.uint8)}

    @classmethod
    def from_wire(cls, value: object, sender: str, *, party_id: str, sizes: list[int]) -> HostLeft:
        """Validate: one anonymous name per won node, one 0/1 per row of the won nodes."""
        v = _fields(value, sender, "host_left", ("features", "left"))
        names = v["features"]
        pattern = re.compile(rf"^host_{re.escape(party_id)}_(0|[1-9][0-9]{{0,8}})$")
        if (
            not isinstance(names, list)
            or len(names) != len(sizes)
            or not all(isinstance(n, str) and pattern.match(n) for n in names)
        ):
            raise fail(f"expected {len(sizes)} anonymous names host_{party_id}_<index>", sender, "features")
        left = int_array(v["left"], sender, "left", int(sum(sizes)), 0, 1).astype(bool)
        return cls(list(names), left)


@dataclass(frozen=True)
class PredictSetup:
    """``PREDICT_SETUP``: digest and rows of the predicted data."""

    ids: str
    n_rows: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, value: object, sender: str) -> PredictSetup:
        """Validate."""
        v = _fields(value, sender, "predict_setup", ("ids", "n_rows"))
        return cls(
            str(expect_digest(v["ids"], sender, "ids")),
            expect_count(v["n_rows"], sender, "n_rows", 0, MAX_ROWS),
        )


@dataclass(frozen=True)
class Decisions:
    """``DECISIONS``: the host's (tree, node) keys and, per key, the rows going left (bit-packed)."""

    ids: str
    keys: np.ndarray
    left: np.ndarray

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"ids": self.ids, "keys": self.keys.astype(np.int64), "left": self.left.astype(np.uint8)}

    @classmethod
    def from_wire(cls, value: object, sender: str, expected: np.ndarray, n_rows: int) -> Decisions:
        """Validate: exactly the ``expected`` ``(k, 2)`` keys, in order; ``(k, ceil(n/8))`` bytes."""
        v = _fields(value, sender, "decisions", ("ids", "keys", "left"))
        keys = v["keys"]
        if not isinstance(keys, np.ndarray) or keys.dtype.kind not in "iu" or keys.shape != expected.shape:
            raise fail(f"expected keys of shape {expected.shape}", sender, "keys")
        if not np.array_equal(keys.astype(np.int64), expected):
            raise fail("the (tree, node) keys are not this host's nodes of the asked trees", sender, "keys")
        left = v["left"]
        shape = (len(expected), (n_rows + 7) // 8)
        if not isinstance(left, np.ndarray) or left.dtype != np.uint8 or left.shape != shape:
            raise fail(f"expected a uint8 array of shape {shape}", sender, "left")
        return cls(str(expect_digest(v["ids"], sender, "ids")), expected, left)

    def rows_left(self, n_rows: int) -> np.ndarray:
        """``(k, n_rows)`` bool."""
        return (
            np.unpackbits(self.left, axis=1, count=n_rows).astype(bool)
            if len(self.left)
            else np.zeros((0, n_rows), dtype=bool)
        )
