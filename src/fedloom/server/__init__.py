"""The job server: REST API (FATE-Flow v1 shape), job store, scheduler, and its Python client.

Importing :mod:`fedloom.server` loads nothing heavy; :mod:`fedloom.server.client` needs only
``httpx``, the app (:mod:`fedloom.server.app`) needs the ``server`` extra (FastAPI, SQLAlchemy).

Two modes:

* **standalone** (default): one server runs every party of a job on this machine, as OS
  processes talking mutual TLS with a per-job CA (:mod:`fedloom.runner.launcher`).
* **multi-site** (``fedloom server start --party-ids 10000 --routes routes.json``): each
  organisation runs its own server for its own party ids. The route table maps each party id to
  its site's peer URL (HTTPS), the host its party processes listen on, and the site's pinned
  self-signed certificate (``fedloom server site-cert`` prints it). A job submitted to the
  initiator's server is proposed to every other site over mutual TLS; each checks its own
  parties (its tables) and accepts or refuses with a reason, which the initiator reports as the
  job's failure; once all accept, every site runs only its own parties, which exchange addresses
  through the initiator and talk peer to peer, authenticated by the site certificates. The
  initiator's ``job query`` shows every party's tasks (it polls the other sites), and ``job stop``
  stops the job everywhere. Protocol, trust model and limits: :mod:`fedloom.server.multisite`.
"""
