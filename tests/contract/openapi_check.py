"""Holds recorded HTTP exchanges against an OpenAPI 3.0 description.

Each line of the exchanges file is one JSON object: method, path (as sent, without the
server's prefix), status, body (the answer), request_body. For each, the operation is found
by matching the path against the description's templates; the answer is validated against
the schema documented for its status, and a JSON request body against the operation's
request body schema. Prints one line per problem and exits 1 if there is any.

Usage: openapi_check.py DESCRIPTION.json EXCHANGES.jsonl
"""

import json
import re
import sys

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_URI = "urn:openapi"


def allow_documented_nulls(node):
    """`nullable: true` beside an `enum` that lacks null: GitHub answers null there (a job's
    conclusion while it runs), and OpenAPI 3.0 leaves open whether the enum admits it; here it does."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = node["enum"] + [None]
        for value in node.values():
            allow_documented_nulls(value)
    elif isinstance(node, list):
        for value in node:
            allow_documented_nulls(value)


def templates(spec):
    """(regex, template) for every path, the most literal first."""
    out = []
    for template in spec["paths"]:
        # A `{path}` parameter spans slashes (contents of a file in a directory).
        pattern = re.escape(template).replace(re.escape("{path}"), ".+")
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern) + "$"
        out.append((re.compile(pattern), template))
    out.sort(key=lambda t: t[1].count("{"))
    return out


def pointer(*parts):
    return SPEC_URI + "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    spec_path, exchanges_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    allow_documented_nulls(spec)
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))
    paths = templates(spec)
    problems = []
    checked = 0
    with open(exchanges_path) as f:
        exchanges = [json.loads(line) for line in f if line.strip()]
    for ex in exchanges:
        method = ex["method"].lower()
        where = f'{ex["method"]} {ex["path"]} -> {ex["status"]}'
        template = next((t for rx, t in paths if rx.match(ex["path"]) and method in spec["paths"][t]), None)
        if template is None:
            problems.append(f"{where}: no such operation in the description")
            continue
        op = spec["paths"][template][method]
        status = str(ex["status"])
        if status == "304":
            # A conditional request's answer: no body, and GitHub does not list it everywhere.
            continue
        responses = op.get("responses", {})
        if status not in responses and not (status.startswith("4") or status.startswith("5")):
            problems.append(f"{where}: status {status} is not documented for {method.upper()} {template}")
            continue
        response = responses.get(status)
        content = (response or {}).get("content", {}).get("application/json")
        if content and "schema" in content and ex.get("body") is not None:
            validator = OAS30Validator({"$ref": pointer("paths", template, method, "responses", status, "content", "application/json", "schema")}, registry=registry)
            error = best_match(validator.iter_errors(ex["body"]))
            if error is not None:
                problems.append(f"{where}: answer: {error.message} at {'/'.join(map(str, error.absolute_path))}")
            checked += 1
        body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body_schema and ex.get("request_body") is not None:
            validator = OAS30Validator({"$ref": pointer("paths", template, method, "requestBody", "content", "application/json", "schema")}, registry=registry)
            error = best_match(validator.iter_errors(ex["request_body"]))
            if error is not None:
                problems.append(f"{where}: request: {error.message} at {'/'.join(map(str, error.absolute_path))}")
            checked += 1
    for p in problems:
        print(p)
    print(f"{len(exchanges)} exchanges, {checked} bodies validated, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
