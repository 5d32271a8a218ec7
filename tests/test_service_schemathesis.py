"""Property-based run of schemathesis against the service's own OpenAPI schema.

Every operation gets generated requests, valid and invalid, with an admin token, against the
application over a copy of the sample home; no response may be a server error, use a status
the schema does not declare, or break the body the schema declares.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from matcher.config import Settings
from matcher.encoders import Encoder
from matcher.engine import Engine
from service.app import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10

# The import route takes JSON Lines as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

# The schema does not depend on the data: build it from an application that never starts.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(home=Path("/nonexistent/matcher"))).openapi())


@pytest.fixture(scope="module")
def served(
    sample_home: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder
) -> Iterator[tuple[FastAPI, str]]:
    """The application over a private copy of the sample home, and an admin token."""
    home = tmp_path_factory.mktemp("schemathesis") / "home"
    shutil.copytree(sample_home, home)
    settings = Settings(home=home, secret_key="schemathesis-secret")
    engine = Engine(settings)
    _, token = engine.create_account("fuzz-admin", "admin")
    engine.close()
    yield create_app(settings, encoder=encoder), token
    shutdown_lifespans()  # closes the engine, as the server's shutdown would


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_responses_follow_the_schema(
    case: schemathesis.Case, served: tuple[FastAPI, str]
) -> None:
    app, token = served
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
