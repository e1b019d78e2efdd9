#!/usr/bin/env python3
"""Checks docs/api/openapi.yaml and validates recorded HTTP responses against it.

Usage: validate_openapi.py DOCUMENT [--routes ROUTES.json] [--responses DIR] [--require-coverage]

- The document must be well formed: OpenAPI 3.1, every $ref resolves, every operation has an operationId
  (unique), an x-revive-role (viewer, operator or admin) and responses, each with a description, every 2xx
  response has content with a schema, and every schema is a valid JSON Schema (2020-12).
- --routes: a JSON list [{"method", "path", "role"}] (the server's route table); the document must have exactly
  these operations, with these roles.
- --responses: a directory of *.json files, each {"method", "path", "status", "content_type", "body"} (path as
  requested, query included; body the raw text). Each must match a documented operation and status, and its
  body that response's schema: application/json parsed and validated; text/event-stream split into messages,
  each message's data validated against x-revive-sse-data, its id and event checked against the data;
  application/yaml must be the document itself.
- --require-coverage: every documented operation got at least one 2xx response among them.
Prints each problem and exits 1 if there is any.
"""
import argparse
import json
import pathlib
import sys

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
ROLES = ("viewer", "operator", "admin")


class Document:
    def __init__(self, path):
        self.path = path
        self.text = pathlib.Path(path).read_text()
        self.doc = yaml.safe_load(self.text)
        self.problems = []

    def resolve(self, ref):
        if not ref.startswith("#/"):
            raise KeyError(f"{ref}: only local references are supported")
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"{ref}: does not resolve")
            node = node[part]
        return node

    def inline(self, node, seen=()):
        """The node with every $ref replaced by what it refers to (siblings of a $ref kept beside an allOf)."""
        if isinstance(node, list):
            return [self.inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node and isinstance(node["$ref"], str):
            ref = node["$ref"]
            if ref in seen:
                raise KeyError(f"{ref}: refers to itself")
            target = self.inline(self.resolve(ref), seen + (ref,))
            rest = {k: self.inline(v, seen) for k, v in node.items() if k != "$ref"}
            if not rest:
                return target
            rest["allOf"] = [target]
            return rest
        return {k: self.inline(v, seen) for k, v in node.items()}

    def check_refs(self, node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    try:
                        self.resolve(value)
                    except KeyError as error:
                        self.problems.append(f"{where}: {error}")
                else:
                    self.check_refs(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self.check_refs(item, f"{where}/{index}")

    def operations(self):
        for path, item in (self.doc.get("paths") or {}).items():
            for method in METHODS:
                if method in item:
                    yield path, method, item[method]

    def response(self, operation, status):
        responses = operation.get("responses") or {}
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return self.inline(responses[key])
        return None

    def check(self):
        doc = self.doc
        if not str(doc.get("openapi", "")).startswith("3.1"):
            self.problems.append("openapi: must be 3.1.x")
        for key in ("info", "paths", "components"):
            if key not in doc:
                self.problems.append(f"{key}: missing")
        self.check_refs(doc, "#")
        if self.problems:
            return
        ids = set()
        for path, method, operation in self.operations():
            where = f"{method.upper()} {path}"
            op_id = operation.get("operationId")
            if not op_id:
                self.problems.append(f"{where}: no operationId")
            elif op_id in ids:
                self.problems.append(f"{where}: operationId {op_id} used twice")
            ids.add(op_id)
            if operation.get("x-revive-role") not in ROLES:
                self.problems.append(f"{where}: x-revive-role must be one of {', '.join(ROLES)}")
            responses = operation.get("responses")
            if not responses:
                self.problems.append(f"{where}: no responses")
                continue
            for status, response in responses.items():
                response = self.inline(response)
                if not response.get("description"):
                    self.problems.append(f"{where} {status}: no description")
                content = response.get("content") or {}
                if str(status).startswith("2") and not content:
                    self.problems.append(f"{where} {status}: no content")
                for media, body in content.items():
                    if "schema" not in body:
                        self.problems.append(f"{where} {status} {media}: no schema")
                        continue
                    for schema in (body["schema"], body.get("x-revive-sse-data")):
                        if schema is None:
                            continue
                        try:
                            jsonschema.Draft202012Validator.check_schema(self.inline(schema))
                        except jsonschema.exceptions.SchemaError as error:
                            self.problems.append(f"{where} {status} {media}: bad schema: {error.message}")
            for parameter in operation.get("parameters", []) + (doc["paths"][path].get("parameters") or []):
                parameter = self.inline(parameter)
                if parameter.get("in") == "path" and "{" + parameter["name"] + "}" not in path:
                    self.problems.append(f"{where}: path parameter {parameter['name']} not in the path")
        for name, schema in (doc["components"].get("schemas") or {}).items():
            try:
                jsonschema.Draft202012Validator.check_schema(self.inline(schema))
            except jsonschema.exceptions.SchemaError as error:
                self.problems.append(f"components/schemas/{name}: bad schema: {error.message}")

    def match(self, method, path):
        """The documented (template, operation) for a concrete request path; literal segments win."""
        segments = path.split("?")[0].rstrip("/").split("/")
        best = None
        for template, m, operation in self.operations():
            if m != method.lower():
                continue
            parts = template.split("/")
            if len(parts) != len(segments):
                continue
            literal = 0
            for want, got in zip(parts, segments):
                if want.startswith("{") and want.endswith("}"):
                    if not got:
                        break
                elif want == got:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, template, operation)
        return (best[1], best[2]) if best else (None, None)


def validate(schema, instance):
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def sse_messages(text):
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        data = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        if data:
            fields["data"] = "\n".join(data)
            yield fields


def check_response(document, record):
    where = f"{record['method']} {record['path']} -> {record['status']}"
    template, operation = document.match(record["method"], record["path"])
    if operation is None:
        # Not a documented operation: an unknown path is a 404, a documented path with another method a 405;
        # both answer an Error.
        other_method = any(document.match(m, record["path"])[1] is not None for m in METHODS)
        expected = 405 if other_method else 404
        if record["status"] != expected:
            return None, [f"{where}: no documented operation matches (expected {expected})"]
        error_schema = document.inline({"$ref": "#/components/schemas/Error"})
        try:
            body = json.loads(record["body"])
        except json.JSONDecodeError as error:
            return None, [f"{where}: not JSON: {error}"]
        return None, [f"{where}: {p}" for p in validate(error_schema, body)]
    response = document.response(operation, record["status"])
    if response is None:
        return template, [f"{where}: status {record['status']} not documented for {template}"]
    content = response.get("content") or {}
    media = (record.get("content_type") or "").split(";")[0].strip()
    if not content:
        return template, ([] if not record["body"] else [f"{where}: a body where none is documented"])
    if media not in content:
        return template, [f"{where}: content type {media!r} not documented ({', '.join(content)})"]
    problems = []
    if media == "application/json":
        try:
            body = json.loads(record["body"])
        except json.JSONDecodeError as error:
            return template, [f"{where}: not JSON: {error}"]
        problems += [f"{where}: {p}" for p in validate(content[media]["schema"], body)]
    elif media == "text/event-stream":
        schema = content[media].get("x-revive-sse-data")
        for message in sse_messages(record["body"]):
            try:
                data = json.loads(message["data"])
            except json.JSONDecodeError as error:
                problems.append(f"{where}: event data not JSON: {error}")
                continue
            if schema is not None:
                problems += [f"{where}: event {message.get('id')}: {p}" for p in validate(schema, data)]
            if isinstance(data, dict):
                if message.get("id") != str(data.get("sequence")):
                    problems.append(f"{where}: id {message.get('id')} is not the data's sequence")
                if message.get("event") != data.get("kind"):
                    problems.append(f"{where}: event {message.get('event')} is not the data's kind")
    elif media == "application/yaml":
        if record["body"] != document.text:
            problems.append(f"{where}: the served document differs from {document.path}")
    return template, problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("document")
    parser.add_argument("--routes")
    parser.add_argument("--responses")
    parser.add_argument("--require-coverage", action="store_true")
    args = parser.parse_args()

    document = Document(args.document)
    document.check()
    problems = list(document.problems)
    if problems:
        print("\n".join(problems))
        return 1

    documented = {(method.upper(), path): operation.get("x-revive-role")
                  for path, method, operation in document.operations()}
    if args.routes:
        served = {(r["method"], r["path"]): r["role"] for r in json.loads(pathlib.Path(args.routes).read_text())}
        for key in sorted(set(served) - set(documented)):
            problems.append(f"{key[0]} {key[1]}: served but not documented")
        for key in sorted(set(documented) - set(served)):
            problems.append(f"{key[0]} {key[1]}: documented but not served")
        for key in sorted(set(served) & set(documented)):
            if served[key] != documented[key]:
                problems.append(f"{key[0]} {key[1]}: role {served[key]} served, {documented[key]} documented")

    covered = set()
    checked = 0
    if args.responses:
        for file in sorted(pathlib.Path(args.responses).glob("*.json")):
            record = json.loads(file.read_text())
            template, found = check_response(document, record)
            checked += 1
            problems += [f"{file.name}: {p}" for p in found]
            if template and 200 <= record["status"] < 300:
                covered.add((record["method"].upper(), template))
    if args.require_coverage:
        for key in sorted(set(documented) - covered):
            problems.append(f"{key[0]} {key[1]}: no 2xx response was checked")

    if problems:
        print("\n".join(problems))
        return 1
    print(f"{args.document}: well formed, {len(documented)} operations; {checked} responses valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
