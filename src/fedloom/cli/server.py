"""``fedloom server start``: the job server (REST API, job store, scheduler) on this machine.

It listens on 127.0.0.1:9380 unless told otherwise, makes its API token at first start
(``{home}/token``, mode 0600; give it to ``fedloom init --token-file``), and writes
``{home}/endpoint.json`` (``{"url", "pid"}``) once it listens (``--port 0`` picks a free port).

Multi-site mode: ``fedloom server site-cert --home H --party-ids 10000`` makes (once) and prints
this site's certificate for the other sites' route tables; ``fedloom server start --party-ids
10000 --routes routes.json`` then also opens the mutual-TLS peer listener at this site's route
url (see :mod:`fedloom.server.multisite`).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="The job server: start it, see where it listens.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """The job server (FATE-Flow v1 REST API)."""


def _compute_option(text: str | None) -> dict[str, Any] | None:
    """``--compute``'s JSON mapping (validated when the settings load)."""
    from fedloom.core.errors import ConfigError

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"must be a JSON mapping. Got {text!r}.", field="--compute") from None
    if not isinstance(value, dict):
        raise ConfigError(f"must be a JSON mapping. Got {text!r}.", field="--compute")
    return value


@app.command("start")
def start_cmd(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (default: this machine only)."
    ),
    port: int = typer.Option(9380, "--port", help="Port (0: a free one, see endpoint.json)."),
    home: Path | None = typer.Option(
        None, "--home", help="Server home (default $FEDLOOM_SERVER_HOME or ~/.fedloom/server)."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help="Job store URL (default SQLite in the home)."),
    party_ids: str | None = typer.Option(
        None, "--party-ids", help="Party ids this server runs (multi-site, with --routes)."
    ),
    routes: Path | None = typer.Option(
        None, "--routes", help="Route table: party id -> peer url, grpc_host, cert (multi-site)."
    ),
    compute: str | None = typer.Option(
        None,
        "--compute",
        help='Compute backend of the party processes, JSON: \'{"backend": "ray", "address": "auto"}\'.',
    ),
    log_level: str = typer.Option("info", "--log-level", help="Server log level."),
) -> None:
    """Start the server in the foreground (stop it with Ctrl-C)."""
    import logging

    import uvicorn

    from fedloom.core.errors import ConfigError
    from fedloom.server.app import create_app
    from fedloom.server.settings import ServerSettings

    if bool(party_ids) != bool(routes):
        # refused rather than ignored: a server that silently ran every party would not be multi-site
        raise ConfigError(
            "multi-site mode needs both --party-ids and --routes (see `fedloom server site-cert`).",
            field="--party-ids",
        )
    parties = [p.strip() for p in party_ids.split(",") if p.strip()] if party_ids else None
    settings = ServerSettings.load(
        home,
        host=host,
        port=port,
        db_url=db_url,
        party_ids=parties,
        routes=str(routes) if routes else None,
        compute=_compute_option(compute),
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    real_port = sock.getsockname()[1]
    fastapi_app = create_app(settings)
    url = f"http://{host}:{real_port}"
    (settings.home / "endpoint.json").write_text(json.dumps({"url": url, "pid": os.getpid()}))
    typer.echo(
        f"fedloom server listening on {url} (token: {settings.token_path}, store: "
        f"{settings.database_url.split('@')[-1]})"
    )
    board_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(
        f"board: http://{board_host}:{real_port}/board (log in: "
        f"http://{board_host}:{real_port}/board/login?token={settings.token_path.read_text().strip()})"
    )
    config = uvicorn.Config(fastapi_app, log_level=log_level.lower(), access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@app.command("site-cert")
def site_cert_cmd(
    party_ids: str = typer.Option(..., "--party-ids", help="Party ids this site hosts, comma-separated."),
    home: Path | None = typer.Option(
        None, "--home", help="Server home (default $FEDLOOM_SERVER_HOME or ~/.fedloom/server)."
    ),
) -> None:
    """Print this site's certificate (made at first use) for the other sites' route tables."""
    from fedloom.server.multisite import ensure_site_identity
    from fedloom.server.settings import ServerSettings

    settings = ServerSettings.load(home)
    ident = ensure_site_identity(settings.home, [p.strip() for p in party_ids.split(",") if p.strip()])
    typer.echo(ident.cert_pem.decode(), nl=False)
