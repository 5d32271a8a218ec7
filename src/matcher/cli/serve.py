"""``matcher serve``: the HTTP service, started by import string (the core never imports it)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from matcher.cli.common import err
from matcher.config import Settings

#: The service's application factory, read from the environment like every command.
APP_FACTORY = "service.app:create_app"
#: How long a worker process may take to answer its supervisor before it is replaced.
WORKER_HEALTHCHECK_S = 120


def run_service(host: str, port: int, workers: int = 1) -> None:
    """Serve the pages and the API over the home the environment names, until interrupted;
    ``workers`` processes share the port (each with its engine, all on the one database)."""
    settings = Settings()
    if not settings.secret_key:
        err.print(
            "[yellow]Attention : MATCHER_SECRET_KEY n'est pas défini. Les liens de désinscription des "
            "e-mails ne pourront pas être vérifiés (réponse 503) ; définissez une longue chaîne "
            "aléatoire, la même que pour matcher digest.[/yellow]"
        )
    err.print(
        f"Dossier de données : {settings.home} — pages : http://{host}:{port}/connexion — "
        f"documentation de l'API : http://{host}:{port}/docs"
    )
    # The service logs its own access lines, by route template (service.access): uvicorn's would
    # write paths, which name holders.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # A worker loading the encoder and the index answers the supervisor's ping late; the
        # default 5 s would have it killed and restarted over and over on a busy machine.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        log_level="info",
        access_log=False,
    )


def serve(
    host: Annotated[str, typer.Option("--host", help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port d'écoute.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processus servant le même port, sur la même base (PostgreSQL conseillé au-delà de 1).",
        ),
    ] = 1,
) -> None:
    """Lancer le service HTTP : les pages (/connexion) et l'API (documentation sur /docs)."""
    run_service(host, port, workers)
