"""One APIRouter per resource, and what their routes share: reading a JSON body, paging."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from matcher.domain import ID_PATTERN
from matcher.errors import InvalidRecord
from matcher.intake import quoted_amounts

REQUEST_LABEL = "requête"
#: Beyond this an offset is a client's mistake, and SQLite integers would overflow.
MAX_OFFSET = 1_000_000_000


def parse_json(content: bytes) -> Any:
    """A request body as JSON; InvalidRecord (a 422) for anything unreadable."""
    if not content.strip():
        raise InvalidRecord(REQUEST_LABEL, [("", "corps de requête manquant : un objet JSON est attendu")])
    try:
        value = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        problem = f"le corps n'est pas encodé en UTF-8 (octet invalide à la position {error.start})"
        raise InvalidRecord(REQUEST_LABEL, [("", problem)]) from None
    except json.JSONDecodeError as error:
        problem = f"JSON invalide ({error.msg}, ligne {error.lineno}, colonne {error.colno})"
        raise InvalidRecord(REQUEST_LABEL, [("", problem)]) from None
    except (RecursionError, ValueError):  # nesting too deep, integers too long
        raise InvalidRecord(
            REQUEST_LABEL, [("", "JSON illisible (imbrication ou nombre démesurés)")]
        ) from None
    _refuse_lone_surrogates(value, "")
    if problems := quoted_amounts(value):
        raise InvalidRecord(REQUEST_LABEL, problems)
    return value


def _refuse_lone_surrogates(value: Any, path: str) -> None:
    # JSON may escape half of a UTF-16 pair ("\ud800"): such a string cannot be stored or sent back.
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise InvalidRecord(REQUEST_LABEL, [(path, "texte invalide : caractère isolé non représentable")])
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key, path)
            _refuse_lone_surrogates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_lone_surrogates(item, f"{path}[{i}]")


async def json_body(request: Request) -> Any:
    """The parsed JSON body (its size was already bounded by ``BodySizeLimit``)."""
    return parse_json(await request.body())


JsonBody = Annotated[Any, Depends(json_body)]
HolderIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=64, description="Id du porteur de projet.", examples=["h-001"])
]
OpportunityIdPath = Annotated[
    str,
    Path(
        pattern=ID_PATTERN,
        max_length=64,
        description="Id de l'opportunité.",
        examples=["act-001-medecin-felletin"],
    ),
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Nombre d'éléments à sauter.")]


def json_request_body(schema_name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` documenting a body that the route reads and validates itself."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
        }
    }


def record_with_id(body: Any, record_id: str) -> Any:
    """The body of a PUT, carrying the id of its URL; a different id in the body is an error."""
    if not isinstance(body, dict):
        return body  # the core validation says it must be an object
    if "id" in body and body["id"] != record_id:
        raise InvalidRecord(REQUEST_LABEL, [("id", f"ne correspond pas à l'id de l'adresse ({record_id})")])
    return {**body, "id": record_id}


def merge_patch(stored: dict[str, Any], patch: Any, record_id: str) -> Any:
    """PATCH semantics: the given top-level fields replace the stored ones; null clears a field."""
    if not isinstance(patch, dict):
        raise InvalidRecord(REQUEST_LABEL, [("", "un PATCH doit être un objet JSON")])
    patch = record_with_id(patch, record_id)
    merged = dict(stored)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
