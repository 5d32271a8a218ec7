"""The FastAPI application: ``create_app(settings)``, and ``app`` for ``uvicorn service.app:app``.

One Engine per process, opened at start-up (index loaded and brought up to date) and closed at
shutdown (index saved). Routes validate, authorise and call the engine; no scoring happens here.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from matcher import __version__
from matcher.config import Settings
from matcher.encoders import Encoder
from matcher.engine import Engine
from service import web
from service.access import AccessLog
from service.errors import BodySizeLimit, install_error_handlers

DESCRIPTION = """\
Des opportunités rurales (offres d'activité, entreprises à reprendre, espaces de coworking)
pour des porteurs de projet urbains, avec les raisons de chaque suggestion.

Authentification : `Authorization: Bearer <jeton>`, jeton créé par `matcher users add`.
Rôles : **admin** (tout), **officer** (les offres de ses territoires, et leurs candidats),
**counsellor** (les porteurs de projet de son organisation et leurs correspondances).

Les pages pour les personnes (conseil, agents des territoires) sont sur `/connexion`.
"""


def _open_engine(settings: Settings, encoder: Encoder | None) -> Engine:
    engine = Engine(settings, encoder=encoder)
    try:
        engine.refresh()  # load the index (or rebuild a stale one) before the first request
        engine.save_index()
    except BaseException:
        engine.close()
        raise
    return engine


def _close_engine(engine: Engine) -> None:
    try:
        engine.save_index()
    finally:
        engine.close()


def create_app(settings: Settings | None = None, *, encoder: Encoder | None = None) -> FastAPI:
    """The API over ``settings.home``; ``encoder`` lets tests share one loaded model."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await run_in_threadpool(_open_engine, settings, encoder)
        app.state.engine = engine
        try:
            yield
        finally:
            await run_in_threadpool(_close_engine, engine)

    # The API's documentation with Swagger UI's files served from the package, not a CDN.
    app = FastAPIOffline(
        title="matcher",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    install_error_handlers(app, web.is_page, web.error_page)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AccessLog)

    from service.routers import health, holders, matches, opportunities, templates, unsubscribe

    for module in (health, opportunities, matches, holders, templates, unsubscribe):
        app.include_router(module.router)
    web.install(app)
    _document_patches(app)
    return app


def _document_patches(app: FastAPI) -> None:
    """Add ``OpportunityPatch`` and ``HolderProfilePatch`` (every field optional, null clears it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate()["components"]["schemas"]
            for name in ("Opportunity", "HolderProfile"):
                patch = copy.deepcopy(schemas[name])
                patch.pop("required", None)
                patch["title"] = f"{name}Patch"
                for field, schema in patch["properties"].items():
                    if field != "id" and {"type": "null"} not in schema.get("anyOf", []):
                        patch["properties"][field] = {"anyOf": [schema, {"type": "null"}]}
                schemas[f"{name}Patch"] = patch
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()
