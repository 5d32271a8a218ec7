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


def run_service(host: str, port: int) -> None:
    """Serve the pages and the API over the home the environment names, until interrupted."""
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
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level="info", access_log=False)


def serve(
    host: Annotated[str, typer.Option("--host", help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port d'écoute.")] = 8000,
) -> None:
    """Lancer le service HTTP : les pages (/connexion) et l'API (documentation sur /docs)."""
    run_service(host, port)
