"""Twilio's OpenAPI description (../shared/twilio-oai), turned into JSON-schema validators for contract tests."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_NAME = "twilio_api_v2010.json"


def spec_path() -> Path | None:
    override = os.environ.get("TWILIO_OAI_SPEC")
    candidates = [Path(override)] if override else []
    candidates.append(ROOT.parent / "shared" / "twilio-oai" / SPEC_NAME)
    return next((path for path in candidates if path.is_file()), None)


def require_spec() -> Path:
    path = spec_path()
    if path is None:
        pytest.skip(
            f"Twilio's OpenAPI spec is not present (looked for ../shared/twilio-oai/{SPEC_NAME} beside the repo, "
            "or TWILIO_OAI_SPEC); contract tests need it"
        )
    return path


@cache
def _spec(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _to_json_schema(node: Any, spec: dict[str, Any], depth: int = 0) -> Any:
    """Inline `#/components/...` refs and turn OpenAPI 3.0 `nullable: true` into JSON-schema `null` types."""
    if depth > 20:
        raise ValueError("reference nesting too deep")
    if isinstance(node, list):
        return [_to_json_schema(item, spec, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        resolved = _to_json_schema(target, spec, depth + 1)
        return {"anyOf": [resolved, {"type": "null"}]} if node.get("nullable") else resolved
    converted = {key: _to_json_schema(value, spec, depth) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def response_validator(path: str, method: str) -> Any:
    """A jsonschema validator for the documented 2xx JSON response of `method path`."""
    from jsonschema import Draft202012Validator

    spec = _spec(require_spec())
    responses = spec["paths"][path][method]["responses"]
    code = next(code for code in responses if code.startswith("2"))
    schema = _to_json_schema(responses[code]["content"]["application/json"]["schema"], spec)
    return Draft202012Validator(schema)


def request_parameters(path: str, method: str) -> set[str]:
    spec = _spec(require_spec())
    body = spec["paths"][path][method]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return set(body["properties"])


def form_problems(path: str, method: str, form: dict[str, list[str]]) -> list[str]:
    """What in a form-encoded request the OpenAPI description does not allow: unknown names, or values whose
    text does not read as the documented type (boolean `true`/`false`, integer, number, array) or pattern."""
    from jsonschema import Draft202012Validator

    spec = _spec(require_spec())
    body = spec["paths"][path][method]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    properties = _to_json_schema(body["properties"], spec)
    problems = []
    for name, values in form.items():
        schema = properties.get(name.removesuffix("[]"))
        if schema is None:
            problems.append(f"{name}: not a documented parameter")
            continue
        value: Any = values if schema.get("type") == "array" else values[0]
        if schema.get("type") != "array" and len(values) != 1:
            problems.append(f"{name}: given {len(values)} times, but it is not an array")
            continue
        typed = _typed(value, schema)
        if typed is _UNREADABLE:
            problems.append(f"{name}: {value!r} is not a {schema.get('type')}")
            continue
        problems += [f"{name}: {error.message}" for error in Draft202012Validator(schema).iter_errors(typed)]
    return problems


_UNREADABLE = object()


def _typed(value: Any, schema: dict[str, Any]) -> Any:
    """A form value's text as the JSON value the schema describes (form encoding carries only text)."""
    kind = schema.get("type")
    try:
        if kind == "boolean":
            return {"true": True, "false": False}[value]
        if kind == "integer":
            return int(value) if str(value).lstrip("-").isdigit() else _UNREADABLE
        if kind == "number":
            return float(value)
    except (KeyError, ValueError):
        return _UNREADABLE
    return value
