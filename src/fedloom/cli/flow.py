"""The flow-style CLI's plumbing: ``fedloom init``, the client config, one way to fail, one way to print.

FATE users drive FATE-Flow with ``flow init --ip --port`` once and then ``flow job ...``,
``flow data ...``, ``flow model ...``; fedloom keeps the verbs and flags (``cli/job.py``,
``cli/model.py``, ``cli/tracking.py``, and ``data`` / ``table`` when a server is configured).

The client config
    ``fedloom init --ip 127.0.0.1 --port 9380 [--token-file PATH]`` writes
    ``{"url": "http://IP:PORT", "token_file": PATH}`` to ``$FEDLOOM_CLIENT_CONFIG`` or
    ``~/.fedloom/client.json`` (0600). The token file defaults to the local server's
    (``$FEDLOOM_SERVER_HOME/token`` or ``~/.fedloom/server/token``); only its path is stored, so
    a server that rotates its token needs no new ``init``.

Output
    ``--json`` prints the server's response, FATE-Flow's ``{"retcode", "retmsg", "jobId"?, "data"}``,
    exactly as it came; otherwise a readable rich rendering of ``data``.

Errors (always one line on stderr, never only a traceback)
    - no config: says to run ``fedloom init`` (exit 1);
    - the server cannot be reached: names the URL (exit 1);
    - HTTP 401: the token was refused, and the line names the file it was read from (exit 1);
    - ``retcode != 0``: the server's ``retmsg`` (exit 1; with ``--json`` the response is printed too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import typer
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

__all__ = [
    "CONFIG_ENV",
    "Connection",
    "call",
    "config_path",
    "connect",
    "default_token_file",
    "emit",
    "fail",
    "init_command",
    "make_client",
    "optional_call",
    "read_config",
]

CONFIG_ENV = "FEDLOOM_CLIENT_CONFIG"
SERVER_HOME_ENV = "FEDLOOM_SERVER_HOME"
JSON_HELP = "Print the server's response (retcode, retmsg, data) as JSON."


def config_path() -> Path:
    """Where the client config lives: ``$FEDLOOM_CLIENT_CONFIG`` or ``~/.fedloom/client.json``."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "client.json"


def default_token_file() -> Path:
    """The local server's token: ``$FEDLOOM_SERVER_HOME/token`` or ``~/.fedloom/server/token``."""
    env = os.environ.get(SERVER_HOME_ENV)
    home = Path(env).expanduser() if env else Path.home() / ".fedloom" / "server"
    return home / "token"


def read_config(path: Path | None = None) -> dict[str, Any] | None:
    """The client config as a dict, ``None`` when there is none (the CLI then acts locally)."""
    path = path or config_path()
    if not path.is_file():
        return None
    try:
        conf = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read the client config {path}: {exc}. Run `fedloom init` again.")
    if not isinstance(conf, dict) or not isinstance(conf.get("url"), str):
        fail(f"the client config {path} has no 'url'. Run `fedloom init --ip IP --port PORT` again.")
    return conf


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one red line on stderr and leave with ``code``."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@dataclass
class Connection:
    """A client and what the error lines need to name: the server's URL and the token's file."""

    client: Any
    url: str
    token_file: str
    config_file: Path


def make_client(path: Path) -> Any:
    """The :class:`fedloom.server.client.FlowClient` of a config file (tests replace this function)."""
    try:
        from fedloom.server.client import FlowClient
    except ImportError as exc:
        fail(f"the server client is not installed ({exc}); install fedloom's `server` extra.")
    return FlowClient.from_config(path)


def connect(required: bool = True) -> Connection | None:
    """The configured server's client, or ``None`` (``required=False``) when none is configured."""
    path = config_path()
    conf = read_config(path)
    if conf is None:
        if not required:
            return None
        fail(
            f"no fedloom server configured ({path} does not exist): run "
            "`fedloom init --ip 127.0.0.1 --port 9380` first (after `fedloom server start`)."
        )
    url = str(conf["url"])
    token_file = str(conf.get("token_file") or default_token_file())
    from fedloom.core.errors import ConfigError

    try:
        client = make_client(path)
    except (OSError, ConfigError) as exc:
        if isinstance(exc, ConfigError) and exc.field != "token_file":
            fail(f"{exc.message} Run `fedloom init` again.")
        cause = exc.__cause__ if isinstance(exc, ConfigError) else exc
        reason = getattr(cause, "strerror", None) or cause or exc
        fail(
            f"cannot read the API token from {token_file} ({reason}); the path is set by "
            f"`fedloom init --token-file` in {path}."
        )
    if client is None:
        fail(f"no fedloom server configured in {path}: run `fedloom init --ip IP --port PORT`.")
    return Connection(client=client, url=url, token_file=token_file, config_file=path)


def _status_code(exc: BaseException) -> int | None:
    for obj in (exc, getattr(exc, "response", None)):
        code = getattr(obj, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def _is_unreachable(exc: BaseException) -> bool:
    # httpx's TransportError family (ConnectError, ConnectTimeout, ReadError...) and the OS's own;
    # matched by name so the CLI does not import httpx before a client exists.
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "ConnectionError", "TimeoutException", "UnsupportedProtocol"})


def _token_refused(conn: Connection) -> NoReturn:
    fail(
        f"the server at {conn.url} refused the API token (HTTP 401). The token is read from "
        f"{conn.token_file} (set in {conn.config_file}); point `fedloom init --token-file` at the "
        "server's token file."
    )


def call(conn: Connection, method: str, *args: Any, as_json: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Call ``conn.client.<method>`` and turn every way it can fail into one line and exit code 1.

    A ``retcode != 0`` answer (the client raises ``ServerError`` carrying ``retcode`` and
    ``retmsg``) prints ``retmsg``; with ``as_json`` the response is printed on stdout first, as
    FATE-Flow's client does.
    """
    from fedloom.core.errors import FedloomError

    try:
        resp = getattr(conn.client, method)(*args, **kwargs)
    except FedloomError as exc:
        retcode = getattr(exc, "retcode", None)
        if retcode is None:
            raise  # a local ConfigError / DataError: the app prints it with its own exit code
        if retcode == 401 or _status_code(exc) == 401:
            _token_refused(conn)
        if exc.__cause__ is not None and _is_unreachable(exc.__cause__):
            # the client wraps httpx's transport errors into ServerError(503, ...)
            fail(f"cannot reach the fedloom server at {conn.url} ({exc.__cause__}); is it running?")
        retmsg = str(getattr(exc, "retmsg", None) or exc)
        if as_json:
            body = getattr(exc, "response", None)
            if not isinstance(body, Mapping):
                body = {"retcode": retcode, "retmsg": retmsg}
            typer.echo(json.dumps(body, indent=4, ensure_ascii=False, default=str))
        fail(f"{retmsg} (retcode {retcode})")
    except Exception as exc:
        if _status_code(exc) == 401:
            _token_refused(conn)
        if _is_unreachable(exc):
            fail(
                f"cannot reach the fedloom server at {conn.url} ({exc or type(exc).__name__}); is it running?"
            )
        raise
    if not isinstance(resp, Mapping):
        fail(f"the server at {conn.url} answered {method} with {type(resp).__name__}, not a JSON object.")
    retcode = resp.get("retcode", 0)
    if retcode not in (0, None):  # a client that returns errors instead of raising them
        if as_json:
            typer.echo(json.dumps(resp, indent=4, ensure_ascii=False, default=str))
        if retcode == 401:
            _token_refused(conn)
        fail(f"{resp.get('retmsg', 'failed')} (retcode {retcode})")
    return dict(resp)


def optional_call(conn: Connection, method: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Like :func:`call`, but a ``retcode != 0`` answer gives ``None`` (e.g. a component without
    metrics, inside a command that shows many); a refused token or an unreachable server still fails.
    """
    from fedloom.core.errors import ServerError

    try:
        resp = getattr(conn.client, method)(*args, **kwargs)
    except ServerError as exc:
        if exc.retcode == 401 or (exc.__cause__ is not None and _is_unreachable(exc.__cause__)):
            return call(conn, method, *args, **kwargs)  # fails with the one-line message
        return None
    return dict(resp) if isinstance(resp, Mapping) and resp.get("retcode", 0) in (0, None) else None


def emit(resp: Mapping[str, Any], as_json: bool, render: Callable[[Any], None]) -> None:
    """``--json``: the response as the server sent it; else ``render(resp["data"])``."""
    if as_json:
        typer.echo(json.dumps(resp, indent=4, ensure_ascii=False, default=str))
    else:
        render(resp.get("data"))


# ---------------------------------------------------------------------------------------- rendering


def console() -> Console:
    """A stdout console made now (so test runners that swap ``sys.stdout`` see the output)."""
    return Console(highlight=False, soft_wrap=False)


def fmt_time(value: Any) -> str:
    """Epoch seconds or milliseconds (FATE uses ms), ISO strings or ``None`` as a short local time."""
    if value in (None, "", 0):
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
    return str(value).replace("T", " ")[:19]


def fmt_seconds(value: Any) -> str:
    """A duration in seconds as ``12.3s`` / ``4m05s``."""
    if value in (None, ""):
        return "-"
    try:
        s = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def fmt_value(value: Any, width: int = 60) -> str:
    """One cell: floats to 6 significant digits, long lists and dicts summarised."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list):
        if len(value) <= 6 and all(not isinstance(v, list | dict) for v in value):
            text = "[" + ", ".join(fmt_value(v, width) for v in value) + "]"
        else:
            text = f"[{len(value)} values]"
    elif isinstance(value, dict):
        text = f"{{{len(value)} keys}}"
    elif value is None:
        text = "-"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``(a.b.c, leaf)`` rows, in order (lists stay leaves)."""
    if isinstance(data, Mapping) and data:
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix or "value", data)]


def key_value_table(data: Any, title: str | None = None) -> RenderableType:
    """A two-column table of a (nested) dict, under a bold title line (a table's own title would
    wrap to the table's width)."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in flatten(data):
        table.add_row(escape(key), escape(fmt_value(value, 100)))
    if title is None:
        return table
    return Group(Text(title, style="bold"), Padding(table, (0, 0, 0, 2)))


def rows_table(
    rows: Iterable[Mapping[str, Any]], columns: list[tuple[str, str]], title: str | None = None
) -> Table:
    """A table of dicts; ``columns`` are ``(key, header)`` pairs."""
    table = Table(title=title, title_justify="left")
    for _, header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(escape(fmt_value(row.get(key))) for key, _ in columns))
    return table


def write_json(path: Path, data: Any) -> Path:
    """Write pretty JSON, making parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False, default=str) + "\n")
    return path


def is_loopback(url: str) -> bool:
    """Whether a server URL is on this machine (then it can read files by path)."""
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


# --------------------------------------------------------------------------------------------- init


def init_command(
    ip: str = typer.Option("127.0.0.1", "--ip", help="The fedloom server's address."),
    port: int = typer.Option(9380, "--port", help="The fedloom server's port."),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="File holding the server's API token (default $FEDLOOM_SERVER_HOME/token or "
        "~/.fedloom/server/token).",
    ),
    reset: bool = typer.Option(False, "--reset", help="Forget the server: commands act locally again."),
) -> None:
    """Point the CLI at a fedloom server (FATE's `flow init --ip --port`)."""
    path = config_path()
    if reset:
        path.unlink(missing_ok=True)
        console().print(f"removed {path}: data and table commands act on the local store again")
        return
    if not 0 < port < 65536:
        fail(f"--port must be in 1..65535. Got {port}.", code=2)
    token = (token_file.expanduser() if token_file else default_token_file()).resolve()
    host = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
    conf = {"url": f"http://{host}:{port}", "token_file": str(token)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(conf, indent=4) + "\n")
    path.chmod(0o600)
    out = console()
    out.print(f"fedloom server {conf['url']} (token from {token}) saved in {path}")
    if not token.is_file():
        out.print(f"[yellow]note:[/] {token} does not exist yet; `fedloom server start` writes it.")
