"""An SNS double for the notification tests that holds each request to AWS's own contract:
the signature is recomputed with botocore's SigV4 signer (from the request's own date and signed
headers), and the parameters are checked against botocore's service model for SNS `Publish`.
Accepted messages are kept and listed at GET /messages. Prints the port once it listens.

usage: sns_double.py ACCESS_KEY_ID SECRET_ACCESS_KEY
"""

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY = sys.argv[1], sys.argv[2]
PUBLISH = botocore.session.get_session().get_service_model("sns").operation_model("Publish").input_shape
MESSAGES = []
LOCK = threading.Lock()


def error(handler, status, code, message):
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    handler.send_response(status)
    handler.send_header("content-type", "text/xml")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body.encode())


def check_signature(handler, body):
    auth = handler.headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "MissingAuthenticationToken"
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, date, region, service, _ = parts["Credential"].split("/")
    if key_id != ACCESS_KEY or service != "sns":
        return "InvalidClientTokenId"
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "IncompleteSignature"
    headers = {name: handler.headers.get(name, "") for name in signed}
    request = AWSRequest(method="POST", url=f"http://{handler.headers['host']}/", data=body, headers=headers)
    request.context["timestamp"] = handler.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, handler.headers.get("x-amz-security-token")), "sns", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return None if expected == parts["Signature"] else "SignatureDoesNotMatch"


def check_parameters(params):
    if params.get("Action") != "Publish" or params.get("Version") != "2010-03-31":
        return f"InvalidAction {params.get('Action')}"
    members = set(PUBLISH.members)
    for name in params:
        if name in ("Action", "Version"):
            continue
        if name.split(".")[0] not in members:
            return f"InvalidParameter {name} is not a member of Publish"
    for name in PUBLISH.required_members:
        if name not in params:
            return f"InvalidParameter {name} is required"
    if "Subject" in params and (len(params["Subject"]) > 100 or "\n" in params["Subject"]):
        return "InvalidParameter Subject"
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with LOCK:
            body = json.dumps(MESSAGES).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        problem = check_signature(self, body)
        if problem:
            return error(self, 403, problem, "The request signature we calculated does not match the signature you provided.")
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        problem = check_parameters(params)
        if problem:
            return error(self, 400, problem.split(" ")[0], problem)
        message_id = str(uuid.uuid4())
        with LOCK:
            MESSAGES.append({"MessageId": message_id, **params})
        reply = (
            '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
            f"<MessageId>{message_id}</MessageId></PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></PublishResponse>"
        )
        self.send_response(200)
        self.send_header("content-type", "text/xml")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply.encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
