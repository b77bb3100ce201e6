"""Multi-site mode: one server per organisation, each running only its own parties of a job.

Start it with ``fedloom server start --party-ids 10000 --routes routes.json``. The route table
maps every party id of the federation to the site that hosts it::

    {
      "9999":  {"url": "https://10.0.0.1:9443", "grpc_host": "10.0.0.1", "cert": "site-9999.crt"},
      "10000": {"url": "https://10.0.0.2:9443", "grpc_host": "10.0.0.2", "cert": "-----BEGIN ..."}
    }

``url`` is the site's **peer listener** (server-to-server, mutual TLS; the server binds the host
and port of its own entry), ``grpc_host`` the address its party processes bind and are reached at
(each job's parties take free ports, exchanged as below), ``cert`` the site's certificate (PEM
text, or a file path relative to the route table). Several party ids may share one site: their
entries then carry the same ``url`` and ``cert``.

Trust: pinned self-signed site certificates
-------------------------------------------
At first start in multi-site mode a server makes its **site identity**: an EC P-256 key and a
self-signed, non-CA certificate whose DNS names are ``guest-<id>.fedloom``, ``host-<id>.fedloom``
and ``arbiter-<id>.fedloom`` for each of its party ids (``{home}/site/site.crt``, ``site.key``,
mode 0600; ``fedloom server site-cert`` prints it for the route table). Organisations exchange
route entries out of band (as FATE's route tables are exchanged), and each one's route table
*pins* every site's certificate. Why this and not a federation CA: a CA's key could mint a
certificate for any party, so somebody would have to be trusted with it; pinned certificates need
no one trusted beyond the route table each organisation reviews, and they need no code in the
transport: each party's gRPC trust roots are the route table's certificates (a self-signed
certificate is its own trust anchor, and being no CA it cannot vouch for any other), and the
transport already checks that a sender's certificate names the sender (:mod:`fedloom.transport.
grpc.tls`). Loading a route table checks that each certificate names only roles of the party ids
pinned to it, so a site can never speak for another's parties.

Server-to-server calls are HTTPS with client certificates in both directions: the caller trusts
exactly the pinned certificate of the site it calls (and checks its name); the callee accepts
only client certificates of the route table and identifies the caller by its certificate, which
decides what it may do (only the site hosting a job's initiator may propose, start or cancel it;
a site may announce addresses only for its own parties). A request with any other certificate,
or none, fails the TLS handshake.

Protocol of a job (``POST /peer/v1/job/<verb>``, JSON)
-----------------------------------------------------
1. **submit** (a client, to the initiator's server, REST with the API token): the initiator's
   party must be hosted here and every party id routed; the job is checked for the parties of
   this site (conf, dsl, tables), recorded with tasks for *every* party, and ``propose``\\ d to
   each other site.
2. **propose** ``{job_id, conf, dsl}``: the site checks its own parties (their ``Reader`` tables
   exist in its store, the models a predict job loads...) and records the job with its own
   tasks (``waiting``), or refuses with the reason. One refusal fails the job at the initiator
   (``host:10000 refused: ...``; submit answers retcode 100 with that text, and the job, queried,
   is ``failed`` with it) and the sites that accepted get ``cancel``.
3. **start** ``{job_id}``: once all accepted, every site (the initiator first) starts the job's
   supervisor for its own parties only (:func:`fedloom.runner.local.run_job` with
   ``only_parties``, the site certificate for each party and ``listen_host = grpc_host``).
4. **addresses** ``{job_id, addresses}``: each supervisor, once its parties listen, posts their
   addresses to the initiator's site and polls until the book holds every party of the job; its
   parties then get the whole book and the job runs peer to peer over mutual TLS.
5. **status** ``{job_id}``: the initiator's supervisor polls every other site for its job state
   and its parties' status files, copies them into its store (so the initiator's ``job query``
   shows every party's tasks), and after its own parties end waits for the other sites' final
   state: the job succeeds only if every site's part did; a failure reported by another site is
   preferred as the root cause over a local party that only reacted to it.
6. **cancel** ``{job_id}``: stopping the job at the initiator stops it everywhere.

Not done: rerun of a multi-site job (refused), fixed gRPC ports (each job's parties take free
ports on ``grpc_host``), certificate rotation and revocation (edit the route tables), and
forwarding ``job log`` / ``tracking`` queries for another site's parties (ask that site).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fedloom.core.errors import ConfigError, DataError, FedloomError, ServerError
from fedloom.core.roles import PartyId

if TYPE_CHECKING:
    from fedloom.server.scheduler import Scheduler
    from fedloom.server.settings import ServerSettings

__all__ = [
    "MultiSite",
    "PeerClient",
    "PeerServer",
    "Route",
    "RouteTable",
    "SiteIdentity",
    "ensure_site_identity",
    "site_dns_names",
    "site_run",
]

log = logging.getLogger(__name__)

ROLES = ("guest", "host", "arbiter")
#: Seconds a site's supervisor waits for every site's parties to listen.
ADDRESS_WAIT = 120.0
#: Seconds the initiator waits, after its own parties ended, for the other sites' final state.
FINAL_WAIT = 60.0
#: Largest peer request body accepted.
MAX_BODY = 16 << 20
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,200}:[0-9]{1,5}$")


def site_dns_names(party_ids: list[str]) -> list[str]:
    """The DNS names a site's certificate carries: every role of every party id it hosts."""
    return [PartyId.parse(f"{role}:{pid}").dns_name for pid in party_ids for role in ROLES]


# ---------------------------------------------------------------------- identity
@dataclass(frozen=True)
class SiteIdentity:
    """This site's key and self-signed certificate (PEM files under ``{home}/site/``)."""

    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_site_identity(home: Path, party_ids: list[str], days: int = 3650) -> SiteIdentity:
    """The site identity of the server home ``home``, made on first use (see module docs).

    Raises
    ------
    ConfigError
        An existing certificate names other party ids than ``party_ids`` (a new one would no longer
        match the route tables of the other sites: remove ``{home}/site`` deliberately).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from fedloom.transport.grpc.tls import cert_dns_names

    folder = home / "site"
    ident = SiteIdentity(folder / "site.crt", folder / "site.key")
    names = site_dns_names(party_ids)
    if ident.cert_path.exists() and ident.key_path.exists():
        have = cert_dns_names(ident.cert_pem)
        if sorted(have) != sorted(names):
            raise ConfigError(
                f"{ident.cert_path} names {sorted(have)}, not the party ids {party_ids}; remove "
                f"{folder} to make a new site certificate (and send it to every other site).",
                field="--party-ids",
            )
        return ident
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate clock skew
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        # not a CA, and no certificate signing: it vouches for nothing but itself
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(
        ident.key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    _write_private(ident.cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return ident


# ---------------------------------------------------------------------- route table
@dataclass(frozen=True)
class Route:
    """Where one party id is hosted: its site's peer URL, gRPC host and pinned certificate."""

    party_id: str
    url: str
    grpc_host: str
    cert: bytes

    @property
    def der(self) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        return x509.load_pem_x509_certificate(self.cert).public_bytes(serialization.Encoding.DER)


class RouteTable:
    """The route table of a federation (see module docs), checked on load."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self._by_der: dict[bytes, list[str]] = {}
        for pid, r in routes.items():
            self._by_der.setdefault(r.der, []).append(pid)

    @classmethod
    def load(cls, path: str | Path) -> RouteTable:
        """Read and check ``path``.

        Raises
        ------
        ConfigError
            Not a JSON object of entries, an entry lacks a field, a URL is not ``https://``, a
            certificate cannot be read, is a CA, or names a role of a party id not pinned to it,
            or two entries of one site disagree on ``url``.
        """
        from cryptography import x509

        from fedloom.transport.grpc.tls import cert_dns_names

        file = Path(path).expanduser()
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the route table {file}: {e}", field="--routes") from None
        if not isinstance(doc, dict) or not doc:
            raise ConfigError("the route table must map party ids to entries.", field="--routes")
        routes: dict[str, Route] = {}
        for pid, entry in doc.items():
            where = f"routes.{pid}"
            if not re.fullmatch(r"[0-9]{1,18}", str(pid)) or not isinstance(entry, dict):
                raise ConfigError(f"{where}: party ids are digits and map to objects.", field=where)
            url, host, cert = entry.get("url"), entry.get("grpc_host"), entry.get("cert")
            if not isinstance(url, str) or not url.startswith("https://") or not urlsplit(url).port:
                raise ConfigError(
                    f"{where}.url must be https://HOST:PORT. Got {url!r}.", field=f"{where}.url"
                )
            if not isinstance(host, str) or not host:
                raise ConfigError(f"{where}.grpc_host is missing.", field=f"{where}.grpc_host")
            if not isinstance(cert, str) or not cert:
                raise ConfigError(f"{where}.cert is missing.", field=f"{where}.cert")
            pem = cert.encode() if "-----BEGIN" in cert else _read_cert(file.parent / cert, where)
            try:
                parsed = x509.load_pem_x509_certificate(pem)
            except ValueError as e:
                raise ConfigError(
                    f"{where}.cert is not a PEM certificate: {e}", field=f"{where}.cert"
                ) from None
            with contextlib.suppress(x509.ExtensionNotFound):
                if parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                    raise ConfigError(
                        f"{where}.cert is a CA certificate; pin the site's own certificate.",
                        field=f"{where}.cert",
                    )
            routes[str(pid)] = Route(str(pid), url.rstrip("/"), host, pem)
        table = cls(routes)
        for pids in table._by_der.values():
            route = routes[pids[0]]
            allowed = set(site_dns_names(pids))
            extra = sorted(set(cert_dns_names(route.cert)) - allowed)
            if extra:
                raise ConfigError(
                    f"the certificate pinned for party ids {pids} also names {extra}: a site's "
                    "certificate may name only the party ids routed to it.",
                    field=f"routes.{pids[0]}.cert",
                )
            if len({routes[p].url for p in pids}) > 1:
                raise ConfigError(f"party ids {pids} share a certificate but not a url.", field="--routes")
        return table

    def route(self, party_id: str | int) -> Route:
        try:
            return self.routes[str(party_id)]
        except KeyError:
            raise ConfigError(f"party id {party_id} is not in the route table.", field="role") from None

    def party_ids_of(self, der: bytes | None) -> list[str]:
        """The party ids whose pinned certificate is exactly ``der`` (empty: none)."""
        return list(self._by_der.get(der or b"", []))

    def bundle(self) -> bytes:
        """Every pinned certificate, concatenated: the trust roots of parties and peer listener."""
        return b"".join(self.routes[pids[0]].cert for pids in self._by_der.values())


def _read_cert(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}.cert: cannot read {path}: {e.strerror}", field=f"{where}.cert") from None


# ---------------------------------------------------------------------- peer client
class PeerClient:
    """Calls other sites' peer listeners over mutual TLS (each call pins the callee's certificate)."""

    def __init__(self, identity: SiteIdentity, routes: RouteTable, timeout: float = 30.0) -> None:
        self.identity = identity
        self.routes = routes
        self.timeout = timeout
        self._contexts: dict[bytes, ssl.SSLContext] = {}

    def _context(self, route: Route) -> ssl.SSLContext:
        ctx = self._contexts.get(route.cert)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_verify_locations(cadata=route.cert.decode())  # this site's certificate only
            ctx.load_cert_chain(self.identity.cert_path, self.identity.key_path)
            self._contexts[route.cert] = ctx
        return ctx

    def call(self, party_id: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``/peer/v1/job/<verb>`` of the site hosting ``party_id``.

        Raises
        ------
        ServerError
            503: the site cannot be reached or the TLS handshake failed; otherwise the callee's
            retcode and retmsg.
        """
        import httpx

        route = self.routes.route(party_id)
        # the callee's certificate must name this party id (SNI and host name check on that name)
        name = PartyId.parse(f"guest:{party_id}").dns_name
        try:
            with httpx.Client(verify=self._context(route), timeout=self.timeout) as http:
                resp = http.post(
                    f"{route.url}/peer/v1/job/{verb}", json=body, extensions={"sni_hostname": name}
                )
            doc = resp.json()
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as e:
            raise ServerError(
                503, f"cannot reach the server of party {party_id} at {route.url}: {e}"
            ) from None
        if not isinstance(doc, dict):
            raise ServerError(500, f"the server of party {party_id} answered {str(doc)[:200]!r}")
        if doc.get("retcode") != 0:
            raise ServerError(int(doc.get("retcode") or 500), str(doc.get("retmsg")))
        return doc


# ---------------------------------------------------------------------- peer listener
Handler = Callable[[list[str], str, dict[str, Any]], Any]


class PeerServer:
    """This site's peer listener: HTTPS that requires a client certificate of the route table.

    Parameters
    ----------
    host, port
        Where it listens (the host and port of this site's ``url``).
    handler
        ``handler(caller_party_ids, verb, body)`` → the answer's ``data``; a ServerError becomes
        its retcode/retmsg, another FedloomError retcode 100.
    """

    def __init__(
        self, host: str, port: int, identity: SiteIdentity, routes: RouteTable, handler: Handler
    ) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(identity.cert_path, identity.key_path)
        ctx.load_verify_locations(cadata=routes.bundle().decode())
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.routes = routes
        owner = self

        class _Req(BaseHTTPRequestHandler):
            def setup(self) -> None:
                self.request.settimeout(30)
                super().setup()

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("peer %s: " + fmt, self.client_address[0], *args)

            def do_POST(self) -> None:
                owner._serve(self)

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, addr = self.socket.accept()
                # the handshake runs on the request's own thread (first read), never blocking accept
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request: Any, client_address: Any) -> None:
                log.info("peer connection from %s refused or broken", client_address[0])

        self.handler = handler
        self.httpd = _Server((host, port), _Req)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="peer-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        conn: Any = req.connection
        caller = self.routes.party_ids_of(conn.getpeercert(binary_form=True))
        verb = req.path.removeprefix("/peer/v1/job/")
        try:
            if not caller:  # a CA-less bundle makes this unreachable; checked anyway
                raise ServerError(401, "unknown client certificate")
            size = int(req.headers.get("Content-Length") or 0)
            if size > MAX_BODY:
                raise ServerError(100, "request too large")
            body = json.loads(req.rfile.read(size) or b"{}")
            if not isinstance(body, dict) or not req.path.startswith("/peer/v1/job/"):
                raise ServerError(101, f"no peer endpoint {req.path}")
            answer = {"retcode": 0, "retmsg": "success", "data": self.handler(caller, verb, body)}
        except ServerError as e:
            answer = {"retcode": e.retcode, "retmsg": e.retmsg, "data": None}
        except FedloomError as e:
            answer = {"retcode": 100, "retmsg": str(e), "data": {"party": e.party, "component": e.component}}
        except Exception as e:  # never leave the caller without an answer
            log.exception("peer request %s failed", verb)
            answer = {"retcode": 500, "retmsg": f"{type(e).__name__}: {e}", "data": None}
        raw = json.dumps(answer).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(raw)))
        req.end_headers()
        req.wfile.write(raw)


# ---------------------------------------------------------------------- the site
class MultiSite:
    """This server's multi-site side: identity, route table, peer client, and the peer verbs.

    Raises
    ------
    ConfigError
        No party ids, a bad route table, or one whose entries for this site's party ids pin
        another certificate than this site's.
    """

    def __init__(self, settings: ServerSettings) -> None:
        if not settings.party_ids or not settings.routes:
            raise ConfigError("multi-site mode needs both --party-ids and --routes.", field="--party-ids")
        self.settings = settings
        self.party_ids = [str(p) for p in settings.party_ids]
        self.identity = ensure_site_identity(settings.home, self.party_ids)
        self.routes = RouteTable.load(settings.routes)
        mine = self.identity.cert_pem
        for pid in self.party_ids:
            if self.routes.route(pid).cert.strip() != mine.strip():
                raise ConfigError(
                    f"the route table pins another certificate for party {pid} than this site's "
                    f"{self.identity.cert_path} (`fedloom server site-cert` prints it).",
                    field="--routes",
                )
        self.client = PeerClient(self.identity, self.routes)
        self.bundle_path = self.identity.cert_path.parent / "peers.pem"
        _write_private(self.bundle_path, self.routes.bundle())
        self._books: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self.server: PeerServer | None = None

    # -------------------------------------------------------------- helpers
    def hosts(self, party: PartyId | str) -> bool:
        pid = party.id if isinstance(party, PartyId) else str(party)
        return pid in self.party_ids

    def local_parties(self, job: Any) -> list[PartyId]:
        return [p for p in job.parties() if self.hosts(p)]

    def other_sites(self, job: Any) -> dict[str, list[str]]:
        """Per other site (its url) the party ids of ``job`` it hosts."""
        out: dict[str, list[str]] = {}
        for p in job.parties():
            if self.hosts(p):
                continue
            ids = out.setdefault(self.routes.route(p.id).url, [])
            if p.id not in ids:
                ids.append(p.id)
        return out

    def check_routed(self, conf: dict[str, Any], job: Any) -> None:
        """Every party id of ``job`` is routed and its initiator is hosted here (else ConfigError)."""
        initiator = str((conf.get("initiator") or {}).get("party_id", ""))
        for p in job.parties():
            self.routes.route(p.id)
        if not self.hosts(initiator):
            raise ConfigError(
                f"the initiator {initiator} is not hosted by this server (party ids {self.party_ids}); "
                "submit the job to the initiator's server.",
                field="initiator.party_id",
            )

    def check_tables(self, job: Any) -> None:
        """Every table a ``Reader`` of this site's parties names exists here; the refusal names the
        table only (neither the store's path nor its other tables go to another organisation).

        Raises
        ------
        DataError
            ``table experiment.x does not exist on its server``, naming the party and component.
        """
        from fedloom.data import TableStore

        store = TableStore(self.settings.data_dir)
        for party in self.local_parties(job):
            index = job.party_index(party)
            for name in job.order:
                if job.spec(name).name != "Reader" or not job.runs_on(name, party.role):
                    continue
                if not job.need_run(name, party.role, index):
                    continue
                table = job.params_for(name, party.role, index).table
                if not store.exists(table.name, table.namespace):
                    raise DataError(
                        f"table {table.namespace}.{table.name} does not exist on its server",
                        party=str(party),
                        component=name,
                        field="table",
                    )

    def start(self, scheduler: Scheduler) -> None:
        """Start the peer listener at the host and port of this site's url."""
        url = urlsplit(self.routes.route(self.party_ids[0]).url)
        self.server = PeerServer(
            url.hostname or "127.0.0.1",
            int(url.port or 0),
            self.identity,
            self.routes,
            lambda caller, verb, body: self.handle(scheduler, caller, verb, body),
        )
        self.server.start()
        log.info("peer listener on %s (mutual TLS, pinned site certificates)", url.geturl())

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    # -------------------------------------------------------------- initiator side
    def propose(
        self, scheduler: Scheduler, job_id: str, conf: dict[str, Any], dsl: dict[str, Any], job: Any
    ) -> None:
        """Send the job to every other site; on a refusal cancel it where accepted, mark it failed
        and raise ServerError(100, "host:10000 refused: ...")."""
        accepted: list[str] = []
        for url, pids in self.other_sites(job).items():
            try:
                self.client.call(pids[0], "propose", {"job_id": job_id, "conf": conf, "dsl": dsl})
            except ServerError as e:
                who = ", ".join(str(p) for p in job.parties() if p.id in pids)
                reason = f"{who} refused: {e.retmsg}" if e.retcode != 503 else e.retmsg
                for other in accepted:
                    with contextlib.suppress(FedloomError):
                        self.client.call(other, "cancel", {"job_id": job_id})
                party = next((str(p) for p in job.parties() if p.id in pids), None)
                scheduler.store.finish_active(
                    job_id, "failed", {"party": party, "type": "refused", "message": reason}
                )
                raise ServerError(100, f"job {job_id}: {reason}") from None
            accepted.append(pids[0])
            log.info("job %s: accepted by %s (%s)", job_id, url, pids)

    def start_remote(self, job_id: str, job: Any) -> None:
        for pids in self.other_sites(job).values():
            self.client.call(pids[0], "start", {"job_id": job_id})

    def cancel_remote(self, job_id: str, job: Any) -> None:
        for pids in self.other_sites(job).values():
            with contextlib.suppress(FedloomError):
                self.client.call(pids[0], "cancel", {"job_id": job_id})

    # -------------------------------------------------------------- peer verbs
    def handle(self, scheduler: Scheduler, caller: list[str], verb: str, body: dict[str, Any]) -> Any:
        """Serve one peer request from the site hosting ``caller`` (see module docs)."""
        job_id = str(body.get("job_id") or "")
        if not JOB_ID.match(job_id):
            raise ServerError(100, f"bad job_id {job_id!r}")
        if verb == "propose":
            conf, dsl = body.get("conf"), body.get("dsl")
            if not isinstance(conf, dict) or not isinstance(dsl, dict):
                raise ServerError(100, "propose needs conf and dsl objects")
            initiator = str((conf.get("initiator") or {}).get("party_id", ""))
            if initiator not in caller:
                raise ServerError(403, f"only the initiator's site ({initiator}) may propose this job")
            # another organisation names the earlier job to load models from: an id, never a path
            common = (conf.get("job_parameters") or {}).get("common") or {}
            version = common.get("model_version")
            if version not in (None, "") and not JOB_ID.match(str(version)):
                raise ServerError(100, f"model_version {version!r} is not a job id")
            try:
                scheduler.accept(job_id, conf, dsl)
            except FedloomError as e:  # told to another organisation: no local paths
                raise ServerError(100, str(e).replace(str(self.settings.home), "<server home>")) from None
            return {"job_id": job_id, "accepted": True}
        row = scheduler.store.get_job(job_id, self.settings.server_id)
        if row is None:
            raise ServerError(101, f"no job {job_id!r} on this server")
        initiator = str((row.initiator or {}).get("party_id", ""))
        in_job = {str(p) for ids in row.roles.values() for p in ids}
        if verb in ("start", "cancel") and initiator not in caller:
            raise ServerError(403, f"only the initiator's site ({initiator}) may {verb} job {job_id}")
        if not in_job & set(caller):
            raise ServerError(403, f"job {job_id} has no party of the calling site")
        if verb == "start":
            scheduler.start_accepted(job_id)
            return {"job_id": job_id}
        if verb == "cancel":
            scheduler.stop(job_id)
            return {"job_id": job_id}
        if verb == "status":
            return self._status(scheduler, row)
        if verb == "addresses":
            return self._addresses(row, caller, body.get("addresses"))
        raise ServerError(101, f"no peer verb {verb!r}")

    def _status(self, scheduler: Scheduler, row: Any) -> dict[str, Any]:
        """This site's state of the job and its parties' status files."""
        status: dict[str, Any] = {}
        for p in scheduler.store.parties(row.job_id):
            with contextlib.suppress(OSError, ValueError):
                status[f"{p.role}:{p.party_id}"] = json.loads(Path(p.status_path).read_text(encoding="utf-8"))
        return {"status": row.status, "error": row.error, "parties": status}

    def _addresses(self, row: Any, caller: list[str], posted: Any) -> dict[str, Any]:
        """Record the caller's parties' addresses (at the initiator); the book when complete."""
        if not self.hosts(str((row.initiator or {}).get("party_id", ""))):
            raise ServerError(102, f"this server is not the initiator of job {row.job_id}")
        if row.status not in ("waiting", "running"):
            raise ServerError(102, f"job {row.job_id} is {row.status}")
        parties = {f"{role}:{pid}" for role, ids in row.roles.items() for pid in ids}
        if not isinstance(posted, dict):
            raise ServerError(100, "addresses must be an object")
        for party, addr in posted.items():
            if party not in parties or PartyId.parse(party).id not in caller:
                raise ServerError(403, f"the calling site may not announce {party!r}")
            if not isinstance(addr, str) or not ADDRESS.match(addr):
                raise ServerError(100, f"bad address {addr!r} for {party}")
        with self._lock:
            book = self._books.setdefault(row.job_id, {})
            book.update(posted)
            complete = set(book) >= parties
            return {"complete": complete, "addresses": dict(book) if complete else {}}


# ---------------------------------------------------------------------- supervisor side
def site_run(settings: ServerSettings, job_id: str, conf: dict[str, Any], dsl: dict[str, Any]) -> SiteRun:
    """What a multi-site supervisor needs to run ``job_id``'s parties of this site."""
    return SiteRun(settings, job_id, conf, dsl)


class SiteRun:
    """One job's run on one site, in its supervisor process (see module docs, steps 3 to 5)."""

    def __init__(
        self, settings: ServerSettings, job_id: str, conf: dict[str, Any], dsl: dict[str, Any]
    ) -> None:
        from fedloom.components import registry
        from fedloom.dsl import load_job

        self.site = _SiteConfig(settings)
        self.job_id = job_id
        self.job = load_job(conf, dsl, registry())
        self.initiator = str((conf.get("initiator") or {}).get("party_id", ""))
        self.is_initiator = self.initiator in self.site.party_ids
        self.local = [p for p in self.job.parties() if p.id in self.site.party_ids]
        self._last_poll = 0.0
        self._remote: dict[str, dict[str, Any]] = {}

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`fedloom.runner.local.run_job` for this site's parties."""
        files = {"ca": str(self.site.bundle_path), "cert": str(self.site.identity.cert_path),
                 "key": str(self.site.identity.key_path)}  # fmt: skip
        return {
            "only_parties": [str(p) for p in self.local],
            "tls_files": {str(p): files for p in self.local},
            "listen_host": self.site.routes.route(self.site.party_ids[0]).grpc_host,
            "on_ready": self.exchange,
        }

    def exchange(self, addresses: dict[str, str]) -> dict[str, str]:
        """Announce this site's parties' addresses to the initiator; wait for the whole book."""
        deadline = time.monotonic() + ADDRESS_WAIT
        while True:
            doc = self.site.client.call(
                self.initiator, "addresses", {"job_id": self.job_id, "addresses": addresses}
            )
            data = doc.get("data") or {}
            if data.get("complete"):
                book = dict(data["addresses"])
                return {p: a for p, a in book.items() if p not in addresses}
            if time.monotonic() > deadline:
                raise ServerError(
                    504, f"job {self.job_id}: the other sites' parties did not start in {ADDRESS_WAIT:.0f} s"
                )
            time.sleep(0.2)

    def remote_status(self, force: bool = False) -> dict[str, dict[str, Any]]:
        """Per other site (a party id of it) its answer to ``status``, polled at most once a second."""
        if not self.is_initiator:
            return {}
        if force or time.monotonic() - self._last_poll > 1.0:
            self._last_poll = time.monotonic()
            for pids in _other_sites(self.job, self.site).values():
                with contextlib.suppress(FedloomError):
                    self._remote[pids[0]] = self.site.client.call(pids[0], "status", {"job_id": self.job_id})[
                        "data"
                    ]
        return self._remote

    def remote_parties(self, force: bool = False) -> dict[str, dict[str, Any]]:
        """The other sites' parties' status files (what ``store.sync_status`` takes)."""
        out: dict[str, dict[str, Any]] = {}
        for answer in self.remote_status(force).values():
            out.update(answer.get("parties") or {})
        return out

    def final_remote(self) -> dict[str, dict[str, Any]]:
        """Wait (at most :data:`FINAL_WAIT`) until every other site's part of the job ended."""
        deadline = time.monotonic() + FINAL_WAIT
        while True:
            answers = self.remote_status(force=True)
            sites = _other_sites(self.job, self.site)
            done = all(
                answers.get(p[0], {}).get("status") in ("success", "failed", "canceled")
                for p in sites.values()
            )
            if done or time.monotonic() > deadline:
                return {p[0]: answers.get(p[0], {"status": "unreachable"}) for p in sites.values()}
            time.sleep(0.5)


class _SiteConfig:
    """Identity, routes and peer client as the supervisor process rebuilds them from the home."""

    def __init__(self, settings: ServerSettings) -> None:
        self.party_ids = [str(p) for p in settings.party_ids]
        self.identity = SiteIdentity(settings.home / "site" / "site.crt", settings.home / "site" / "site.key")
        self.bundle_path = settings.home / "site" / "peers.pem"
        self.routes = RouteTable.load(settings.routes)
        self.client = PeerClient(self.identity, self.routes)

    def hosts(self, party: PartyId) -> bool:
        return party.id in self.party_ids


def _other_sites(job: Any, site: _SiteConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in job.parties():
        if site.hosts(p):
            continue
        ids = out.setdefault(site.routes.route(p.id).url, [])
        if p.id not in ids:
            ids.append(p.id)
    return out


def remote_outcome(answers: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The error to record for the job when another site's part did not succeed, else ``None``.

    A site that failed for a reason of its own wins over one whose parties only reacted to a
    peer's failure; a site that never answered, or did not end in time, is a failure too.
    """
    worst: dict[str, Any] | None = None
    for pid, answer in answers.items():
        state = answer.get("status")
        if state == "success":
            continue
        err = dict(answer.get("error") or {})
        if state not in ("failed", "canceled"):
            err = {"type": "timeout", "message": f"the site of party {pid} did not finish (state {state})"}
        err.setdefault("message", f"the site of party {pid} ended {state}")
        reaction = err.get("type") in ("PartyFailedError", "PartyTimeoutError")
        if worst is None or (not reaction and worst.get("type") in ("PartyFailedError", "PartyTimeoutError")):
            worst = err
    return worst
