"""The Context: everything an algorithm needs to talk to the other parties of a job.

An algorithm sees only ``ctx.send(CHANNEL, value, to=...)`` and ``ctx.recv(CHANNEL, frm=...)``.
The context turns a channel and the current namespace into the deterministic wire address::

    {job_id}/{namespace...}/{channel}/{src}->{dst}
    j42/hetero_lr_0/epoch-3/batch-0/residual/guest:9999->host:10000

checks that this party's role may use the channel in that direction, encodes the value with the
codec (no pickle) and hands the envelope to the transport. ``ctx.sub("epoch", 3)`` gives a child
context whose addresses are one level deeper, so a loop never reuses an address; an algorithm
declares its loops' nesting once as a :class:`~fedloom.context.namespace.NamespacePath`
(``BATCH.at(ctx, k, e, b)``), so that every role builds the same addresses.

What a party receives is counted in its :class:`~fedloom.context.privacy.PrivacyLedger`
(``ctx.privacy``) against the channel's declared ``disclosure``. Public keys are never trusted
because they arrived: ciphertexts decode only under keys this party made or accepted with
:meth:`Context.recv_public_key`, which checks the scheme and the key size against the job's
configuration and pins one key per job step (component).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from fedloom.context.channel import Channel
from fedloom.context.privacy import PrivacyLedger, count_elements
from fedloom.core.errors import MessageError, ProtocolError
from fedloom.core.roles import PartyId, Role
from fedloom.crypto.paillier import PaillierPublicKey
from fedloom.crypto.paillier.plain import PlainPublicKey
from fedloom.transport.base import Transport
from fedloom.transport.codec import Keyring, decode, encode
from fedloom.transport.envelope import Envelope
from fedloom.transport.stats import TrafficStats

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")

#: Seconds a ``recv`` waits before raising PartyTimeoutError, unless the job says otherwise.
DEFAULT_TIMEOUT = 600.0
#: Public-key classes by the scheme name of ``encrypt_param.method``.
_KEY_SCHEMES: dict[str, type] = {"paillier": PaillierPublicKey, "plain": PlainPublicKey}


class _KeyPins:
    """The one public key accepted per job step (first namespace segment), by fingerprint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pins: dict[str, str] = {}

    def pin(self, step: str, fingerprint: str) -> str | None:
        """Pin ``fingerprint`` for ``step``; returns the other fingerprint already pinned, if any."""
        with self._lock:
            pinned = self._pins.setdefault(step, fingerprint)
        return None if pinned == fingerprint else pinned


class Context:
    """This party's view of a job: who it is, who its peers are, and how to reach them.

    Parameters
    ----------
    party
        This party.
    peers
        Every other party of the job.
    transport
        The backend that moves envelopes (in-memory or gRPC).
    job_id
        First segment of every address; distinct jobs never see each other's messages.
    timeout
        Seconds to wait in ``recv`` (and for a send to be accepted) before PartyTimeoutError.
    keyring, privacy, namespace
        Shared with the parent by :meth:`sub`; leave them out when making a job's root context.
    """

    def __init__(
        self,
        party: PartyId,
        peers: Sequence[PartyId],
        transport: Transport,
        *,
        job_id: str = "job",
        timeout: float = DEFAULT_TIMEOUT,
        keyring: Keyring | None = None,
        privacy: PrivacyLedger | None = None,
        namespace: tuple[str, ...] = (),
        _pins: _KeyPins | None = None,
    ) -> None:
        if not _SEGMENT.match(job_id):
            raise ProtocolError(
                f"job id must be letters, digits, '_', '.' or '-'. Got {job_id!r}.", field="job_id"
            )
        self.party = party
        self.peers: tuple[PartyId, ...] = tuple(sorted(p for p in peers if p != party))
        self.transport = transport
        self.job_id = job_id
        self.timeout = timeout
        self.keyring = keyring if keyring is not None else Keyring()
        self.privacy = privacy if privacy is not None else PrivacyLedger(str(party))
        self.namespace = namespace
        self._pins = _pins if _pins is not None else _KeyPins()

    # -- who is who -------------------------------------------------------------------------
    @property
    def role(self) -> Role:
        return self.party.role

    def parties(self, role: Role) -> list[PartyId]:
        """Every party of ``role`` in the job (this one included), in a stable order."""
        everyone = sorted({self.party, *self.peers})
        return [p for p in everyone if p.role == role]

    @property
    def guest(self) -> PartyId:
        return self._single(Role.GUEST)

    @property
    def hosts(self) -> list[PartyId]:
        return self.parties(Role.HOST)

    @property
    def arbiter(self) -> PartyId:
        return self._single(Role.ARBITER)

    def _single(self, role: Role) -> PartyId:
        found = self.parties(role)
        if len(found) != 1:
            raise ProtocolError(
                f"the job has {len(found)} {role.value} parties, this step needs exactly one",
                party=str(self.party),
            )
        return found[0]

    # -- namespaces -------------------------------------------------------------------------
    def sub(self, name: str, index: int | None = None) -> Context:
        """A child context one namespace level down: ``ctx.sub("epoch", 3)`` → ``.../epoch-3/...``.

        Loops of an algorithm take their nesting from a declared
        :class:`~fedloom.context.namespace.NamespacePath` instead, shared by every role.
        """
        segment = name if index is None else f"{name}-{index}"
        if not _SEGMENT.match(segment):
            raise ProtocolError(
                f"namespace segment must be letters, digits, '_', '.' or '-'. Got {segment!r}."
            )
        return self.derive(namespace=(*self.namespace, segment))

    def derive(self, *, namespace: tuple[str, ...] | None = None, timeout: float | None = None) -> Context:
        """This context with another namespace or timeout, sharing keys, pins and ledger."""
        return Context(
            self.party,
            self.peers,
            self.transport,
            job_id=self.job_id,
            timeout=self.timeout if timeout is None else timeout,
            keyring=self.keyring,
            privacy=self.privacy,
            namespace=self.namespace if namespace is None else namespace,
            _pins=self._pins,
        )

    def address(self, channel: Channel, src: PartyId, dst: PartyId) -> str:
        """The wire address of ``channel`` from ``src`` to ``dst`` in this namespace."""
        return "/".join((self.job_id, *self.namespace, channel.name, f"{src}->{dst}"))

    # -- talking ----------------------------------------------------------------------------
    def send(self, channel: Channel, value: Any, to: PartyId | Iterable[PartyId] | None = None) -> None:
        """Send ``value`` on ``channel`` to ``to`` (default: every peer of the channel's dst roles).

        The value is encoded once, whatever the number of receivers.
        """
        if self.role not in channel.src:
            raise ProtocolError(
                f"a {self.role.value} may not send on channel {channel}", party=str(self.party)
            )
        targets = self._targets(channel, to)
        encoded = encode(value)
        for key in encoded.public_keys:
            self.keyring.add(key)
        for dst in targets:
            env = Envelope(
                address=self.address(channel, self.party, dst),
                src=str(self.party),
                dst=str(dst),
                payload_type=encoded.payload_type,
                key_fingerprint=encoded.key_fingerprint,
                body=encoded.body,
            )
            self.transport.send(env, self.timeout)

    def recv(self, channel: Channel, frm: PartyId | None = None) -> Any:
        """Receive the value sent on ``channel`` by ``frm`` (default: the one peer of its src roles)."""
        if self.role not in channel.dst:
            raise ProtocolError(
                f"a {self.role.value} may not receive on channel {channel}", party=str(self.party)
            )
        if frm is None:
            sources = [p for p in self.peers if p.role in channel.src]
            if len(sources) != 1:
                raise ProtocolError(
                    f"channel {channel} has {len(sources)} senders here; name one with frm= or use recv_all",
                    party=str(self.party),
                )
            frm = sources[0]
        elif frm.role not in channel.src:
            raise ProtocolError(f"a {frm.role.value} never sends on channel {channel}", party=str(self.party))
        env = self.transport.recv(self.address(channel, frm, self.party), frm, self.timeout)
        value = decode(env.contiguous(), self.keyring, env.key_fingerprint)
        component = self.namespace[0] if self.namespace else ""
        self.privacy.record(
            component, channel.name, str(frm), channel.disclosure, count_elements(value), env.size
        )
        return value

    def recv_public_key(
        self, channel: Channel, *, scheme: str, min_bits: int, frm: PartyId | None = None
    ) -> Any:
        """Receive the job step's public key on ``channel`` and accept it for decoding.

        A received key is untrusted input: a peer that plants its own key gets everything
        encrypted under it. The key is accepted only if it came from the channel's sender role
        (the key owner; the transport has authenticated the sender), is of ``scheme`` with at
        least ``min_bits`` bits, and is the only key of this job step: the first key received in
        a step (the first namespace segment: the component) is pinned by fingerprint and a
        different one later is refused.

        Parameters
        ----------
        channel
            The channel the key owner sends its public key on.
        scheme
            ``encrypt_param.method`` of the job: ``"paillier"`` or ``"plain"``.
        min_bits
            ``encrypt_param.key_length`` of the job: the smallest modulus accepted.

        Raises
        ------
        MessageError
            Not a public key, another scheme, too short, or a second key in this step.
        """
        key = self.recv(channel, frm)
        source = frm if frm is not None else channel.name
        expected: Any = _KEY_SCHEMES.get(scheme)
        if expected is None:
            raise ProtocolError(
                f"unknown encryption scheme {scheme!r}", party=str(self.party), field="method"
            )
        if not isinstance(key, expected):
            raise MessageError(
                f"expected a {scheme} public key on '{channel.name}' from {source}. "
                f"Got {type(key).__name__}.",
                party=str(self.party),
                field="public_key",
            )
        if key.key_size < min_bits:
            raise MessageError(
                f"the {scheme} public key on '{channel.name}' has {key.key_size} bits; the job's "
                f"encrypt_param asks for at least {min_bits}",
                party=str(self.party),
                field="key_length",
            )
        step = self.namespace[0] if self.namespace else ""
        other = self._pins.pin(step, key.fingerprint)
        if other is not None:
            raise MessageError(
                f"a second public key ({key.fingerprint[:12]}…) in step '{step or self.job_id}', "
                f"where key {other[:12]}… was accepted: one key per job step",
                party=str(self.party),
                field="public_key",
            )
        self.keyring.add(key)
        return key

    def recv_all(self, channel: Channel) -> dict[PartyId, Any]:
        """Receive ``channel`` from every peer of its src roles, in party order."""
        return {p: self.recv(channel, frm=p) for p in self.peers if p.role in channel.src}

    def _targets(self, channel: Channel, to: PartyId | Iterable[PartyId] | None) -> list[PartyId]:
        if to is None:
            targets = [p for p in self.peers if p.role in channel.dst]
        elif isinstance(to, PartyId):
            targets = [to]
        else:
            targets = list(to)
        for dst in targets:
            if dst.role not in channel.dst or dst not in self.peers:
                raise ProtocolError(f"cannot send on channel {channel} to {dst}", party=str(self.party))
        if not targets:
            raise ProtocolError(f"channel {channel} has no receiver in this job", party=str(self.party))
        return targets

    # -- traffic and failure -------------------------------------------------------------------
    @property
    def stats(self) -> TrafficStats:
        return self.transport.stats

    def fail(self, reason: str) -> None:
        """Tell every peer that this party failed, so none of them waits for its timeout."""
        self.transport.notify_failure(list(self.peers), reason[:4000])
