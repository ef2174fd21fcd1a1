"""Checks HTTP responses against docs/openapi.yaml (the machine-readable api.md).

harness.Server.request() passes every response it receives to check(): the path and
method must be documented (HEAD is checked as GET, without a body), the status must be
one of the operation's responses, the headers it marks required must be there, and a
body's media type must be documented for that status and, for JSON, validate against
its schema (Draft 2020-12; the document's schemas say `additionalProperties: false`, so an
undocumented field fails). A path the document does not list must answer a 404 problem,
a method it does not list a 405 problem with Allow.

A mismatch raises ContractViolation (an AssertionError) in the client and is also kept
in `violations`, so that a request made in a thread still fails its test
(harness.TestCase checks after each test, harness.main() at the end).

Debian 12's python3-jsonschema (4.10: Draft202012Validator + RefResolver) and python3-yaml.
PUSHGATE_OPENAPI_CHECK=0 turns the check off (for debugging a test, never in CI).
"""
import os
import re
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "openapi.yaml")
ENABLED = os.environ.get("PUSHGATE_OPENAPI_CHECK", "1") != "0"

violations = []  # (message, raised in the main thread) of every ContractViolation, in order
_lock = threading.Lock()
_validating = threading.Lock()  # RefResolver keeps a scope stack: one validation at a time
_spec = None
_validators = {}


class ContractViolation(AssertionError):
    """A response that docs/openapi.yaml does not allow."""


class _Spec:
    """The parsed document: its paths as regexes (literal paths first) and a resolver."""

    def __init__(self, path):
        import yaml  # python3-yaml
        from jsonschema import RefResolver  # python3-jsonschema
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.resolver = RefResolver.from_schema(self.doc)
        self.paths = []
        for template in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self.paths.append((template.count("{"), re.compile(rx), template))
        self.paths.sort(key=lambda p: p[0])

    def match(self, path):
        for _, rx, template in self.paths:
            if rx.match(path):
                return template
        return None

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            obj = self.resolver.resolve(obj["$ref"])[1]
        return obj


def _load():
    global _spec
    with _lock:
        if _spec is None:
            _spec = _Spec(DOCUMENT)
        return _spec


def _validator(spec, key, schema):
    from jsonschema import Draft202012Validator
    with _lock:
        v = _validators.get(key)
        if v is None:
            v = _validators[key] = Draft202012Validator(schema, resolver=spec.resolver)
        return v


def _media(resp):
    return resp.headers.get("content-type", "").split(";")[0].strip().lower()


def _schema_errors(spec, key, schema, body):
    v = _validator(spec, key, schema)
    with _validating:
        found = sorted(v.iter_errors(body), key=lambda e: list(map(str, e.path)))
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(body)", e.message)
            for e in found][:5]


def _check_problem(spec, resp, status):
    """An answer no operation describes (unknown path or method, hand-made request): it
    must be a Problem with this status."""
    if _media(resp) != "application/problem+json" or not isinstance(resp.body, dict):
        return [f"expected an application/problem+json body, got {_media(resp)!r}"]
    errors = _schema_errors(spec, "Problem", {"$ref": "#/components/schemas/Problem"},
                            resp.body)
    if resp.body.get("status") != status:
        errors.append(f"problem status {resp.body.get('status')!r} != HTTP status {status}")
    return errors


def _check_operation(spec, where, op, method, resp):
    status = str(resp.status)
    responses = op.get("responses", {})
    if status not in responses:
        return [f"status {status} is not documented (documented: "
                f"{', '.join(sorted(responses))})"]
    doc = spec.deref(responses[status])
    errors = []
    for name, h in (doc.get("headers") or {}).items():
        if spec.deref(h).get("required") and name not in resp.headers:
            errors.append(f"required header {name} is missing")
    content = doc.get("content") or {}
    if method == "HEAD" or not resp.raw:
        if not content or method == "HEAD":
            return errors
        return errors + [f"empty body, documented: {', '.join(content)}"]
    media = _media(resp)
    if media not in content:
        return errors + [f"body of type {media!r} is not documented (documented: "
                         f"{', '.join(content) or 'no body'})"]
    schema = content[media].get("schema")
    if schema is None or "json" not in media:
        return errors
    if not isinstance(resp.body, (dict, list)):
        return errors + ["the body is not JSON"]
    key = (where, status, media)
    return errors + _schema_errors(spec, key, schema, resp.body)


def _fail(method, path, resp, where, errors):
    said = f"{method} {path}"
    msg = (f"docs/openapi.yaml does not allow this response to {said}"
           f"{' (' + where + ')' if where and where != said else ''}: {resp.status}\n  - "
           + "\n  - ".join(errors) + f"\n  response: {resp!r}")
    with _lock:
        violations.append((msg, threading.current_thread() is threading.main_thread()))
    raise ContractViolation(msg)


def check(method, path, resp):
    """Raise ContractViolation unless the document allows `resp` to `method path`."""
    if not ENABLED:
        return
    spec = _load()
    unrouted = spec.doc["x-pushgate-unrouted"]
    template = spec.match(path.split("?", 1)[0])
    method = method.upper()
    if template is None:
        where = "a path not in docs/openapi.yaml: add the route there, or the server says 404"
        op = {"responses": {"404": unrouted["unknownPath"]}}
    else:
        name = "get" if method == "HEAD" else method.lower()
        op = spec.doc["paths"][template].get(name) if name in _METHODS else None
        where = f"{method} {template}"
        if op is None:
            where += " is not documented: add the operation, or the server says 405"
            op = {"responses": {"405": unrouted["unknownMethod"]}}
    errors = _check_operation(spec, where, op, method, resp)
    if errors:
        _fail(method, path, resp, where, errors)


_METHODS = ("get", "put", "post", "delete", "patch")


def check_raw(resp):
    """A reply to a hand-made request (Server.send_raw): no operation is known, so only a
    problem body is checked, against the Problem schema."""
    if not ENABLED or _media(resp) != "application/problem+json":
        return
    errors = _check_problem(_load(), resp, resp.status)
    if errors:
        _fail("(raw)", "", resp, None, errors)


def since(mark, off_main_only=False):
    """The messages of the violations recorded after index `mark` (from mark()); with
    off_main_only those raised in other threads (the test's own thread saw the others)."""
    with _lock:
        return [m for m, main in violations[mark:] if not (off_main_only and main)]


def mark():
    with _lock:
        return len(violations)

