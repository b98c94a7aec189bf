"""The OpenAPI document is valid OpenAPI 3.1 and documents its errors."""

from __future__ import annotations

from openapi_spec_validator import validate

from app.api.openapi import spec


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = spec()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_operation_documents_a_success_and_its_json_errors() -> None:
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert codes & {"200", "201", "202"}, (method, path)
            if "{" in path and path != "/static/{name}":
                assert "404" in codes or method == "post", (method, path)
            if op.get("security"):
                assert "401" in codes, (method, path)
            if any(p["in"] == "query" for p in op.get("parameters", [])):
                assert "400" in codes, (method, path)
