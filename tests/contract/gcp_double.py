"""A double of Google Cloud Build (v1), Cloud Deploy (v1), Cloud Logging's entries (v2) and Cloud
Storage's object reads, held to Google's own
discovery documents as `google-api-python-client` ships them: every request body, query
parameter and answer is checked against the method's schemas, and anything that breaks them is
recorded (`/_control/calls`). Its OAuth token endpoint checks a service account's signed JWT with
that account's public key, as Google's does; tokens expire, can be revoked, and a viewer is
refused what it may not do. Builds and rollouts move only when the test says (`/_control/...`).

Usage: gcp_double.py DIR — writes the service-account keys `release.json` and `viewer.json` into
DIR (their token_uri is this double), then prints the port it listens on.
"""

import base64
import datetime
import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import googleapiclient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import deploy_world
import gcp_world as world

DOCS = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents")
CLOUDBUILD = json.load(open(os.path.join(DOCS, "cloudbuild.v1.json")))
CLOUDDEPLOY = json.load(open(os.path.join(DOCS, "clouddeploy.v1.json")))
LOGGING = json.load(open(os.path.join(DOCS, "logging.v2.json")))
STORAGE = json.load(open(os.path.join(DOCS, "storage.v1.json")))
LOCK = threading.RLock()
STATE = {"calls": [], "problems": [], "throttle": 0, "tokens": {}, "lifetime": 3600, "token_requests": 0}
ACCOUNTS = {}  # e-mail → (public key, may act)


# ---- the discovery documents ----------------------------------------------------------------------


def methods(resource, out):
    for m in resource.get("methods", {}).values():
        out.append(m)
    for r in resource.get("resources", {}).values():
        methods(r, out)
    return out


def route_of(method):
    """A regex for the method's path, each parameter matched by the pattern the document gives."""
    path = "/" + method["path"]
    pattern = ""
    for part in re.split(r"(\{\+?[A-Za-z]+\})", path):
        m = re.fullmatch(r"\{(\+?)([A-Za-z]+)\}", part)
        if not m:
            pattern += re.escape(part)
            continue
        p = method["parameters"][m.group(2)].get("pattern", "^[^/]+$" if not m.group(1) else "^.+$")
        pattern += "(?P<%s>%s)" % (m.group(2), p.strip("^$"))
    return re.compile("^" + pattern + "$")


ROUTES = [(m, route_of(m), doc) for doc in (CLOUDBUILD, CLOUDDEPLOY) for m in methods(doc, [])] + \
    [(m, route_of(m), LOGGING) for m in methods(LOGGING["resources"]["entries"], [])]


def check(schema_ref, value, where, doc=CLOUDBUILD):
    """Problems of `value` against a discovery schema: unknown fields, wrong types, bad enums."""
    problems = []

    def walk(schema, v, at):
        if "$ref" in schema:
            schema = doc["schemas"][schema["$ref"]]
        t = schema.get("type")
        if t == "object":
            if not isinstance(v, dict):
                return problems.append(f"{at}: {type(v).__name__} is not an object")
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for k, x in v.items():
                if k in props:
                    walk(props[k], x, f"{at}.{k}")
                elif extra is not None:
                    walk(extra, x, f"{at}[{k}]")
                else:
                    problems.append(f"{at}: unknown field {k}")
        elif t == "array":
            if not isinstance(v, list):
                return problems.append(f"{at}: not an array")
            for i, x in enumerate(v):
                walk(schema["items"], x, f"{at}[{i}]")
        elif t == "string":
            if not isinstance(v, str):
                return problems.append(f"{at}: {v!r} is not a string")
            if "enum" in schema and v not in schema["enum"]:
                problems.append(f"{at}: {v!r} is not one of {schema['enum']}")
            if schema.get("format") in ("int64", "uint64") and not re.fullmatch(r"-?\d+", v):
                problems.append(f"{at}: {v!r} is not an int64 string")
            if schema.get("format") == "google-datetime" and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", v):
                problems.append(f"{at}: {v!r} is not an RFC 3339 UTC time")
        elif t == "integer":
            if not isinstance(v, int) or isinstance(v, bool):
                problems.append(f"{at}: {v!r} is not an integer")
        elif t == "boolean":
            if not isinstance(v, bool):
                problems.append(f"{at}: {v!r} is not a boolean")
        elif t == "number":
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                problems.append(f"{at}: {v!r} is not a number")

    walk({"$ref": schema_ref}, value, where)
    return problems


def check_query(method, query):
    problems = []
    for k, values in query.items():
        p = method["parameters"].get(k)
        if p is None and k not in ("alt", "$alt", "prettyPrint", "fields"):
            problems.append(f"{method['id']}: unknown query parameter {k}")
        elif p is not None and p.get("type") == "integer" and not all(re.fullmatch(r"-?\d+", v) for v in values):
            problems.append(f"{method['id']}: {k}={values} is not an integer")
    return problems


# ---- tokens ---------------------------------------------------------------------------------------


def b64(data):
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


USER = {"client_id": "764086051850-fd.apps.googleusercontent.com", "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
        "refresh_token": "1//0refresh-token-of-alice", "email": "alice@payments.example"}
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.ci-oidc-subject.signature"
AUDIENCE = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/github"


def issue(who, lifetime=None):
    token = "ya29.double-" + uuid.uuid4().hex
    life = lifetime or STATE["lifetime"]
    STATE["token_requests"] += 1
    STATE["tokens"][token] = {"who": who, "until": time.time() + life, "revoked": False}
    return token, life


def token_for(form):
    if form.get("grant_type") == "refresh_token":
        if (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) != (USER["client_id"], USER["client_secret"], USER["refresh_token"]):
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        with LOCK:
            token, life = issue(USER["email"])
        return 200, {"access_token": token, "expires_in": life, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/cloud-platform"}
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return 400, {"error": "unsupported_grant_type", "error_description": "Only JWT bearer assertions are accepted here."}
    try:
        header, claims, signature = form["assertion"].split(".")
        head, body = json.loads(b64(header)), json.loads(b64(claims))
    except Exception:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
    account = ACCOUNTS.get(body.get("iss"))
    if head.get("alg") != "RS256" or account is None or body.get("iss") in STATE.get("revoked_accounts", set()):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    try:
        account[0].verify(b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    now = time.time()
    if not body.get("aud", "").endswith("/token") or body.get("exp", 0) < now or body.get("iat", now + 600) > now + 300:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."}
    if "https://www.googleapis.com/auth/cloud-platform" not in body.get("scope", "").split():
        return 400, {"error": "invalid_scope", "error_description": "The scope must include cloud-platform."}
    with LOCK:
        token, life = issue(body["iss"])
        return 200, {"access_token": token, "expires_in": life, "token_type": "Bearer"}


def self_signed(token):
    """A service account's own signed JWT used as the bearer token (what Google's client libraries
    send for a service account), checked as Google checks it: signature, audience, time."""
    try:
        header, claims, signature = token.split(".")
        body = json.loads(b64(claims))
        account = ACCOUNTS[body["iss"]]
        account[0].verify(b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return None
    if body.get("exp", 0) < time.time() or not (body.get("aud") or body.get("scope")):
        return None
    return {"who": body["iss"], "until": body["exp"], "revoked": body["iss"] in STATE.get("revoked_accounts", set())}


def sts(form):
    """Google's Security Token Service: a CI's OIDC token for a federated token."""
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" or form.get("audience") != AUDIENCE:
        return 400, {"error": "invalid_request", "error_description": "Invalid value for \"audience\"."}
    if form.get("subject_token") != OIDC_TOKEN or form.get("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt":
        return 400, {"error": "invalid_grant", "error_description": "The subject token is invalid."}
    with LOCK:
        token, life = issue("principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/subject/repo:payments")
    return 200, {"access_token": token, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": life}


def caller(headers):
    auth = headers.get("authorization", "")
    bearer = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
    t = STATE["tokens"].get(bearer) or (self_signed(bearer) if bearer.count(".") == 2 else None)
    if t is None or t["revoked"] or t["until"] < time.time():
        raise world.Fault(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
    return t["who"], ACCOUNTS.get(t["who"], (None, False))[1]


def write_keys(directory, port):
    ACCOUNTS[USER["email"]] = (None, True)
    with open(os.path.join(directory, "user.json"), "w") as f:
        json.dump({"type": "authorized_user", "client_id": USER["client_id"], "client_secret": USER["client_secret"],
                   "refresh_token": USER["refresh_token"], "token_uri": f"http://127.0.0.1:{port}/token"}, f)
    with open(os.path.join(directory, "oidc-token"), "w") as f:
        f.write(OIDC_TOKEN + "\n")
    with open(os.path.join(directory, "external.json"), "w") as f:
        json.dump({"type": "external_account", "audience": AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                   "token_url": f"http://127.0.0.1:{port}/v1/token", "credential_source": {"file": os.path.join(directory, "oidc-token")},
                   "service_account_impersonation_url":
                       f"http://127.0.0.1:{port}/v1/projects/-/serviceAccounts/release@{world.PROJECT}.iam.gserviceaccount.com:generateAccessToken"}, f)
    for name, may_act in (("release", True), ("viewer", False)):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"{name}@{world.PROJECT}.iam.gserviceaccount.com"
        ACCOUNTS[email] = (key.public_key(), may_act)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            json.dump({"type": "service_account", "project_id": world.PROJECT, "private_key_id": uuid.uuid4().hex, "private_key": pem,
                       "client_email": email, "client_id": "1" * 21, "token_uri": f"http://127.0.0.1:{port}/token"}, f)


# ---- the wire -------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def fault(self, f):
        self.reply(f.status, {"error": {"code": f.status, "message": f.message, "status": f.code}})

    def body(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        return raw

    def do_GET(self):
        self.handle_any("GET", b"")

    def do_POST(self):
        self.handle_any("POST", self.body())

    def handle_any(self, verb, raw):
        url = urlparse(self.path)
        if url.path == "/token":
            status, answer = token_for({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            return self.reply(status, answer)
        if url.path == "/v1/token":
            status, answer = sts({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            return self.reply(status, answer)
        if url.path.startswith("/computeMetadata/v1/instance/service-accounts/default/"):
            return self.metadata(url.path.rsplit("/", 1)[-1])
        m = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken", url.path)
        if m:
            return self.impersonate(unquote(m.group(1)), json.loads(raw or b"{}"))
        if url.path.startswith("/_control/"):
            return self.control(verb, url.path[len("/_control/"):], json.loads(raw or b"{}"))
        try:
            with LOCK:
                if STATE["throttle"] > 0:
                    STATE["throttle"] -= 1
                    raise world.Fault(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Build requests' and limit 'Build requests per minute'.")
                who, may_act = caller(self.headers)
            if url.path.startswith("/storage/v1/"):
                return self.storage(url)
            self.api(verb, url, raw, who, may_act)
        except world.Fault as f:
            self.fault(f)

    def api(self, verb, url, raw, who, may_act):
        for method, route, doc in ROUTES:
            m = route.match(unquote(url.path))
            if m and method["httpMethod"] == verb:
                break
        else:
            raise world.Fault(404, "NOT_FOUND", f"no method for {verb} {url.path}")
        query = parse_qs(url.query)
        body = json.loads(raw) if raw else None
        problems = check_query(method, query)
        if "request" in method:
            problems += check(method["request"]["$ref"], body if body is not None else {}, f"{method['id']} request", doc)
        with LOCK:
            STATE["calls"].append({"method": method["id"], "params": m.groupdict(), "query": {k: v[0] for k, v in query.items()}, "body": body, "who": who})
            serves = deploy_world if doc is CLOUDDEPLOY else world
            answer = serves.handle(method["id"], m.groupdict(), {k: v[0] for k, v in query.items()}, body or {}, who, may_act)
            if "response" in method:
                problems += check(method["response"]["$ref"], answer, f"{method['id']} answer", doc)
            STATE["problems"] += problems
        self.reply(200, answer)

    def metadata(self, what):
        """The metadata server of a VM whose service account is `release`."""
        if self.headers.get("metadata-flavor") != "Google":
            return self.reply(403, b"Missing required header: Metadata-Flavor", "text/plain")
        email = f"release@{world.PROJECT}.iam.gserviceaccount.com"
        if what == "email":
            return self.reply(200, email.encode(), "application/text")
        if what == "token":
            with LOCK:
                token, life = issue(email)
            return self.reply(200, {"access_token": token, "expires_in": life, "token_type": "Bearer"})
        self.reply(404, b"not found", "text/plain")

    def impersonate(self, email, body):
        """IAM Credentials' generateAccessToken: a federated principal acting as a service account."""
        try:
            with LOCK:
                who, _ = caller(self.headers)
                if not who.startswith("principal://") or email not in ACCOUNTS:
                    raise world.Fault(403, "PERMISSION_DENIED", f"Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
                problems = [] if body.get("scope") == ["https://www.googleapis.com/auth/cloud-platform"] else [f"generateAccessToken scope {body.get('scope')}"]
                STATE["problems"] += problems
                token, life = issue(email)
            expire = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=life)
            self.reply(200, {"accessToken": token, "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")})
        except world.Fault as f:
            self.fault(f)

    def storage(self, url):
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", url.path)
        if not m or parse_qs(url.query).get("alt") != ["media"]:
            raise world.Fault(400, "INVALID_ARGUMENT", "only object media reads are served here")
        with LOCK:
            data = world.OBJECTS.get((unquote(m.group(1)), unquote(m.group(2))))
        if data is None:
            raise world.Fault(404, "NOT_FOUND", f"No such object: {unquote(m.group(1))}/{unquote(m.group(2))}")
        rng = self.headers.get("range")
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                return self.reply(416, {"error": {"code": 416, "message": "The requested range cannot be satisfied.", "status": "OUT_OF_RANGE"}})
            return self.reply(206, data[start:], "text/plain", {"content-range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        self.reply(200, data, "text/plain")

    def control(self, verb, what, args):
        with LOCK:
            if what == "calls":
                return self.reply(200, {"calls": STATE["calls"], "problems": STATE["problems"], "token_requests": STATE["token_requests"]})
            if what == "throttle":
                STATE["throttle"] = args["count"]
            elif what == "lifetime":
                STATE["lifetime"] = args["seconds"]
            elif what == "expire":
                for t in STATE["tokens"].values():
                    t["until"] = 0
            elif what == "revoke":
                STATE.setdefault("revoked_accounts", set()).update(a for a in ACCOUNTS if a.startswith(args["account"]))
                for t in STATE["tokens"].values():
                    if t["who"].startswith(args["account"]):
                        t["revoked"] = True
            else:
                answer = (deploy_world if what.startswith("deploy/") else world).control(what, args)
                if answer is None:
                    return self.reply(404, {})
                return self.reply(200, answer)
            return self.reply(200, {})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    write_keys(sys.argv[1], server.server_address[1])
    print(server.server_address[1], flush=True)
    server.serve_forever()
