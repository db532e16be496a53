"""Validates recorded HTTP exchanges against a Swagger 2.0 API description.

usage: swagger_check.py SWAGGER.json EXCHANGES.json

Each exchange is {"method", "route", "request", "status", "response"}; the route must be one of
the description's paths with that method; a request body is validated against the operation's
body parameter, a 200 answer against its 200 schema (for a streaming operation, each line), any
other answer against its `default` (the gRPC gateway's error). Objects may not carry fields the
description does not name. Prints one line per failure; exits 1 if any.
"""
import json
import sys

from jsonschema import Draft4Validator


def strict(schema, definitions, seen=None):
    """The schema with `additionalProperties: false` wherever properties are listed. An object
    made of `allOf` parts (a ResourceNode is its own fields and a ResourceRef's) gets the parts'
    properties merged first, so that each part's fields are allowed in the whole."""
    if isinstance(schema, dict):
        schema = dict(schema)
        if "allOf" in schema and definitions is not None:
            merged = dict(schema.get("properties", {}))
            for part in schema.pop("allOf"):
                if "$ref" in part:
                    part = definitions[part["$ref"].split("/")[-1]]
                merged.update(part.get("properties", {}))
            schema["properties"] = merged
            schema.setdefault("type", "object")
        out = {k: strict(v, definitions) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v, definitions) for v in schema]
    return schema


def main():
    swagger = json.load(open(sys.argv[1]))
    exchanges = json.load(open(sys.argv[2]))
    definitions = {name: strict(d, swagger["definitions"]) for name, d in swagger["definitions"].items()}
    failures = 0

    def check(schema, value, what):
        nonlocal failures
        root = dict(strict(schema, swagger["definitions"]))
        root["definitions"] = definitions
        for error in Draft4Validator(root).iter_errors(value):
            failures += 1
            path = "/".join(str(p) for p in error.absolute_path)
            print(f"{what}: at /{path}: {error.message[:300]}")

    for i, ex in enumerate(exchanges):
        what = f"#{i} {ex['method']} {ex['route']} -> {ex['status']}"
        op = swagger["paths"].get(ex["route"], {}).get(ex["method"].lower())
        if op is None:
            failures += 1
            print(f"{what}: not an operation of the API description")
            continue
        if ex.get("request") is not None:
            body = [p for p in op.get("parameters", []) if p.get("in") == "body"]
            if not body:
                failures += 1
                print(f"{what}: a body was sent where the operation takes none")
            else:
                check(body[0]["schema"], ex["request"], what + " request")
        key = "200" if ex["status"] == 200 else "default"
        schema = op["responses"].get(key, {}).get("schema")
        if schema is None:
            failures += 1
            print(f"{what}: the description has no {key} answer")
        else:
            check(schema, ex["response"], what + " answer")
    print(f"{len(exchanges)} exchanges checked, {failures} failures")
    sys.exit(1 if failures else 0)


main()
