"""The one error hierarchy of fedloom.

::

    FedloomError                 base; carries party / component / field context
    ├── ConfigError              bad DSL, conf or parameter (names the component and field)
    ├── DataError                bad table, column, id or value (names the table and column)
    ├── ProtocolError            a multi-party exchange went wrong
    │   ├── PartyTimeoutError    a peer did not answer in time (names the channel address)
    │   ├── PartyFailedError     a peer reported a failure (carries its message)
    │   └── MessageError         malformed, duplicate, oversized, wrong-schema or wrong-key message
    ├── CryptoError              a cryptographic operation cannot be carried out
    │   ├── KeyMismatchError     ciphertexts under different keys were combined
    │   └── DecryptionOverflowError  a decrypted value left the encodable range
    ├── ServerError              the job server answered a request with a nonzero retcode
    └── ComputeError             a compute backend lost a task (a worker or node died, timed out)

Every error renders as one line a user can act on, e.g.
``[guest:9999 / hetero_lr_0] field 'penalty': must be one of L1, L2. Got 'L3'.``
The CLI maps each class to its own exit code (:data:`EXIT_CODES`).
"""

from __future__ import annotations


class FedloomError(Exception):
    """Base class of every error fedloom raises on purpose.

    Parameters
    ----------
    message
        What went wrong, in one sentence a user can act on.
    party
        The party where it happened (``"guest:9999"``), when known.
    component
        The job component (``"hetero_lr_0"``), when known.
    field
        The parameter, column or message field at fault, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        party: str | None = None,
        component: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.party = party
        self.component = component
        self.field = field

    def where(self) -> str:
        """The ``[party / component]`` prefix, empty when neither is known."""
        parts = [p for p in (self.party, self.component) if p]
        return f"[{' / '.join(parts)}] " if parts else ""

    def __str__(self) -> str:
        field = f"field '{self.field}': " if self.field else ""
        return f"{self.where()}{field}{self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword context when an error crosses a process boundary inside one party
        # (never between parties: errors travel between parties as text, see PartyFailedError).
        return (_rebuild, (type(self), self.message, self.party, self.component, self.field))


def _rebuild(
    cls: type[FedloomError], message: str, party: str | None, component: str | None, field: str | None
) -> FedloomError:
    err = cls.__new__(cls)
    FedloomError.__init__(err, message, party=party, component=component, field=field)
    return err


class ConfigError(FedloomError):
    """A DSL, conf or parameter is invalid; names the component and field."""


class DataError(FedloomError):
    """A table, column, id or value is invalid; names the table and column."""


class ProtocolError(FedloomError):
    """A multi-party exchange could not complete."""


class PartyTimeoutError(ProtocolError):
    """A peer did not deliver a message in time.

    Parameters
    ----------
    address
        The full wire address waited on, e.g. ``j1/lr/epoch-0/residual/guest:9999->host:10000``.
    timeout
        Seconds waited.
    """

    def __init__(self, address: str, timeout: float, *, party: str | None = None, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"no message at '{address}' after {timeout:g} s: the peer is down, slow or "
            f"running a different job{extra}",
            party=party,
        )
        self.address = address
        self.timeout = timeout

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.party, self.component, self.field))


class PartyFailedError(ProtocolError):
    """A peer reported that it failed; the message carries the peer's own explanation."""


class MessageError(ProtocolError):
    """A message was malformed, duplicated, oversized, of the wrong schema or under the wrong key."""


class CryptoError(FedloomError):
    """A cryptographic operation cannot be carried out."""


class KeyMismatchError(CryptoError):
    """Ciphertexts or keys that belong to different key pairs were combined."""


class DecryptionOverflowError(CryptoError):
    """A decrypted plaintext lies outside the encodable range: the computation overflowed."""


class ServerError(FedloomError):
    """The job server refused or failed a request (FATE-Flow's nonzero ``retcode``).

    Parameters
    ----------
    retcode
        The server's code: 100 bad request, 101 unknown job/table, 401 no/wrong token,
        500 internal error (or an HTTP status when no JSON came back).
    retmsg
        The server's one-line explanation.
    """

    def __init__(self, retcode: int, retmsg: str, *, field: str | None = None) -> None:
        super().__init__(f"server error {retcode}: {retmsg}", field=field)
        self.retcode = retcode
        self.retmsg = retmsg

    def __reduce__(self) -> tuple[object, ...]:
        return (ServerError, (self.retcode, self.retmsg))


class ComputeError(FedloomError):
    """A compute backend (:mod:`fedloom.compute`) could not finish a stage's tasks.

    Raised when a worker or node died and the backend's retries were used up, or the stage ran
    past its timeout; ``field`` names the stage (the task function). A task's own exception is
    re-raised as itself, never wrapped in this.
    """


#: Process exit code of the CLI for each error class (most specific class wins).
EXIT_CODES: dict[type[FedloomError], int] = {
    FedloomError: 1,
    ConfigError: 2,
    DataError: 3,
    ProtocolError: 4,
    PartyTimeoutError: 5,
    PartyFailedError: 6,
    MessageError: 7,
    CryptoError: 8,
    KeyMismatchError: 8,
    DecryptionOverflowError: 9,
    ServerError: 10,
    ComputeError: 11,
}


def exit_code(err: BaseException) -> int:
    """Exit code for ``err``: the entry of its nearest class in :data:`EXIT_CODES`, else 1."""
    for cls in type(err).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
