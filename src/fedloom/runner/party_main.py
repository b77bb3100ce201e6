"""Entry point of one party's OS process, started by :mod:`fedloom.runner.launcher`.

The launcher and its children speak JSON lines — never pickle — over two pipes: the child's
stdin (launcher → child) and a dedicated control descriptor (child → launcher), so whatever the
party's own code prints cannot corrupt the protocol::

    launcher → child   {"party", "peers", "target", "kwargs", "job_id", "timeout", "tls", "log_file",
                        "listen", "python_path"}
    child → launcher   {"event": "listening", "port": 50123}
    launcher → child   {"addresses": {"guest:9999": "127.0.0.1:50123", ...}}
    child → launcher   {"event": "done", "result": <JSON>}
                     | {"event": "error", "type", "message", "exit_code", "traceback"}

``tls`` is ``{"ca", "cert", "key"}`` (this party's PEM files, see
:meth:`fedloom.transport.grpc.TlsConfig.from_files`), or ``null`` for plaintext.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from fedloom.context import Context
from fedloom.core.errors import ConfigError, FedloomError, exit_code
from fedloom.core.logging import setup_logging
from fedloom.core.roles import PartyId


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``package.module:function``."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ConfigError(f"a party target is written 'module:function'. Got {target!r}.", field="target")
    fn = getattr(importlib.import_module(module_name), attr, None)
    if not callable(fn):
        raise ConfigError(f"{target!r} is not a function", field="target")
    return fn


def _emit(control: TextIO, event: dict[str, Any]) -> None:
    control.write(json.dumps(event) + "\n")
    control.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    control = os.fdopen(int(argv[0]), "w", encoding="utf-8")
    spec = json.loads(sys.stdin.readline())
    party = PartyId.parse(spec["party"])
    setup_logging(
        spec.get("log_level"), party=str(party), file=Path(spec["log_file"]) if spec.get("log_file") else None
    )
    for entry in spec.get("python_path", []):
        sys.path.insert(0, entry)

    from fedloom.transport.grpc import GrpcTransport, TlsConfig  # grpc is imported in party processes only

    tls = TlsConfig.from_files(**spec["tls"]) if spec.get("tls") else None
    transport = GrpcTransport(party, listen=spec.get("listen", "127.0.0.1:0"), tls=tls)
    ctx: Context | None = None
    try:
        _emit(control, {"event": "listening", "port": transport.port})
        addresses = json.loads(sys.stdin.readline())["addresses"]
        transport.set_peers({p: a for p, a in addresses.items() if p != str(party)})
        peers = [PartyId.parse(p) for p in spec["peers"]]
        ctx = Context(party, peers, transport, job_id=spec["job_id"], timeout=float(spec["timeout"]))
        result = resolve_target(spec["target"])(ctx, **spec.get("kwargs", {}))
        _emit(control, {"event": "done", "result": result})
        return 0
    except BaseException as exc:  # report everything, including KeyboardInterrupt, then exit non-zero
        tb = traceback.format_exc()
        message = str(exc) if isinstance(exc, FedloomError) else f"{type(exc).__name__}: {exc}"
        if ctx is not None:
            ctx.fail(message)
        _emit(
            control,
            {
                "event": "error",
                "type": type(exc).__name__,
                "message": message,
                "exit_code": exit_code(exc),
                "traceback": tb,
            },
        )
        return exit_code(exc)
    finally:
        transport.close()


if __name__ == "__main__":
    sys.exit(main())
