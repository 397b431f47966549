"""/openapi.json, as a running hub serves it, is a valid OpenAPI document of the version it declares
(openapi-spec-validator), every operation has its own operationId, and every `$ref` in it resolves.

The validator does not follow every `$ref` inside a 3.1 schema (it checks schemas against the meta-schema),
so the document is also walked here: a failure names each reference that points nowhere and where it sits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from tests.conftest import Hub

# The keys of a Path Item that are operations (OpenAPI 3.0 and 3.1).
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """(where, reference) of every `$ref` in the document, `where` a JSON pointer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from refs(item, f"{where}/{index}")


def resolves(document: dict[str, Any], ref: str) -> bool:
    """Whether a reference points into the document (the hub's refers to nothing outside it)."""
    if not ref.startswith("#/"):
        return False
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def unresolved(document: dict[str, Any]) -> list[str]:
    return [f"{ref} (at {where})" for where, ref in refs(document) if not resolves(document, ref)]


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


async def test_openapi_json_is_valid_complete_and_resolves(hub: Hub) -> None:
    async with hub.http.get(f"{hub.base}/openapi.json") as resp:
        assert resp.status == 200
        document = await resp.json()

    version = document["openapi"]
    validator = {"3.0": OpenAPIV30SpecValidator, "3.1": OpenAPIV31SpecValidator}[version[:3]]
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(document).iter_errors()]
    assert not errors, f"/openapi.json is not valid OpenAPI {version}:\n" + "\n".join(errors[:20])

    assert not unresolved(document), "references that point nowhere:\n" + "\n".join(unresolved(document))

    described = operations(document)
    assert len(described) >= 70, "every REST route is described"
    missing = [where for where, operation in described if not operation.get("operationId")]
    assert not missing, f"operations without an operationId: {missing}"
    twice = {name: n for name, n in Counter(op["operationId"] for _, op in described).items() if n > 1}
    assert not twice, f"operationIds used more than once: {twice}"

    # The routes added lately are described too, each under its own name.
    ids = {operation["operationId"] for _, operation in described}
    assert {"list_alerts", "get_analysis_volumes_xlsx", "set_duty", "issue_directive", "declare_incident",
            "open311_create_request"} <= ids


def test_the_walk_names_a_reference_that_points_nowhere() -> None:
    """The explicit walk is what names a bad reference: it must find one where the validator does not look."""
    document = {"openapi": "3.1.0", "paths": {"/api/v1/route": {"post": {"requestBody": {"content": {
        "application/json": {"schema": {"properties": {"crs": {"$ref": "#/$defs/Crs"},
                                                       "at": {"$ref": "#/components/schemas/Point"}}}}}}}}},
                "components": {"schemas": {"Point": {"type": "object"}}}}
    assert unresolved(document) == [
        "#/$defs/Crs (at #/paths/~1api~1v1~1route/post/requestBody/content/application~1json/schema/properties/crs)"]
