"""The wire of a stateful AWS double (CodePipeline, CodeBuild, CloudWatch Logs in
aws_pipeline_double.py; ECS, CodeDeploy, CloudWatch alarms, ECR and ELBv2 in aws_deploy_double.py;
STS and the SSO portal here) that holds every exchange to AWS's own contract: requests are
SigV4-checked with botocore's signer and validated against botocore's service models, and so is
every answer before it is sent. It speaks the JSON protocols (1.1, and 1.0 for CloudWatch) with
X-Amz-Target, which the AWS CLI and boto3 of these versions use for these services
(`/_control/calls` shows what each call came as), and the query protocol for STS and ELBv2.

Tests script it through /_control/*: advance an execution, append build log lines, throttle the
next calls, expire or deny a key. Prints the port once it listens.

usage: aws_double.py   (keys: AKIDRELEASE/release-secret for alice, AKIDVIEWER/viewer-secret for a
                        viewer who may not approve)
"""

import datetime
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

import aws_deploy_double as deploy
import aws_pipeline_double as pipeline
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import QueryParser
from botocore.validate import ParamValidator

from aws_pipeline_double import ACCOUNT, AwsFault, now

SESSION = botocore.session.get_session()
MODELS = {name: SESSION.get_service_model(name) for name in ("codepipeline", "codebuild", "logs", "codedeploy", "ecs", "cloudwatch", "ecr")}
BY_PREFIX = {m.metadata["targetPrefix"]: (name, m) for name, m in MODELS.items()}
KEYS = {
    "AKIDRELEASE": {"secret": "release-secret", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ReleaseManagers/alice", "approve": True},
    "AKIDVIEWER": {"secret": "viewer-secret", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Viewers/victor", "approve": False},
}
# What the federated sources trade for temporary keys (which then need their session token).
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.ci-oidc-token.signature"
DEPLOYER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deployer"
SSO_TOKEN = "sso-access-token-from-aws-sso-login"
SSO_ACCOUNT, SSO_ROLE = ACCOUNT, "ReleaseManager"
STS_MODEL = SESSION.get_service_model("sts")
SSO_MODEL = SESSION.get_service_model("sso")
ELBV2_MODEL = SESSION.get_service_model("elbv2")
LOCK = threading.RLock()
STATE = {"throttle": 0, "expired": set(), "calls": [], "problems": []}
HANDLERS = {"codepipeline": pipeline.op_codepipeline, "codebuild": pipeline.op_codebuild, "logs": pipeline.op_logs, **deploy.HANDLERS}

# ---- the wire -----------------------------------------------------------------------------------


def check_signature(handler, body, service):
    auth = handler.headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise AwsFault(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, _, region, signed_service, _ = parts["Credential"].split("/")
    who = KEYS.get(key_id)
    if who is None:
        raise AwsFault(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if signed_service != service:
        raise AwsFault(400, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise AwsFault(400, "IncompleteSignatureException", "host and x-amz-date must be signed")
    headers = {name: handler.headers.get(name, "") for name in signed}
    request = AWSRequest(method="POST", url=f"http://{handler.headers['host']}{handler.path}", data=body, headers=headers)
    request.context["timestamp"] = handler.headers["x-amz-date"]
    if who.get("token") and handler.headers.get("x-amz-security-token") != who["token"]:
        raise AwsFault(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    signer = SigV4Auth(Credentials(key_id, who["secret"], handler.headers.get("x-amz-security-token")), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if expected != parts["Signature"]:
        raise AwsFault(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
    if key_id in STATE["expired"]:
        raise AwsFault(400, "ExpiredTokenException", "The security token included in the request is expired")
    return who


def issue(prefix, arn):
    """Temporary keys for a role session, known to the signature check from now on."""
    with LOCK:
        key = f"{prefix}{uuid.uuid4().hex[:12].upper()}"
        KEYS[key] = {"secret": uuid.uuid4().hex, "token": uuid.uuid4().hex * 2, "arn": arn, "approve": True}
        return key


def sts_request(action, params):
    """A query-protocol request's fields, held to STS's model; None (and the problem recorded)
    when they break it."""
    shape = STS_MODEL.operation_model(action).input_shape
    fields = {k: v for k, v in params.items() if k not in ("Action", "Version")}
    for name, member in shape.members.items():
        if name in fields and member.type_name == "integer":
            fields[name] = int(fields[name])
    try:
        validate(shape, fields, f"{action} request")
        return fields
    except AssertionError as e:
        with LOCK:
            STATE["problems"].append(str(e))
        return None


def role_answer(action, key, session):
    """STS's answer to assuming the Deployer role: the temporary keys issued as `key`."""
    return (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>'
            f'<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{KEYS[key]["secret"]}</SecretAccessKey>'
            f'<SessionToken>{KEYS[key]["token"]}</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>'
            f'<AssumedRoleUser><Arn>{KEYS[key]["arn"]}</Arn><AssumedRoleId>AROADEPLOYER:{session}</AssumedRoleId></AssumedRoleUser>'
            f'</{action}Result></{action}Response>').encode()


def validate(shape, value, what):
    if shape is None:
        return
    report = ParamValidator().validate(value, shape)
    if report.has_errors():
        raise AssertionError(f"{what} breaks {shape.name}: {report.generate_report()}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type, extra=None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-amzn-requestid", str(uuid.uuid4()))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/federation/credentials"):
            return self.sso()
        with LOCK:
            if self.path == "/_control/calls":
                return self.reply(200, json.dumps({"calls": STATE["calls"], "problems": STATE["problems"]}).encode(), "application/json")
        self.reply(404, b"{}", "application/json")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.startswith("/_control/"):
            return self.control(urlparse(self.path).path[len("/_control/"):], json.loads(body or b"{}"))
        if self.headers.get("x-amz-target"):
            prefix, op = self.headers["x-amz-target"].split(".", 1)
        else:
            return self.sts(body)
        name, model = BY_PREFIX.get(prefix, (None, None))
        try:
            if model is None:
                raise AwsFault(400, "UnknownOperationException", prefix)
            operation = model.operation_model(op)
            who = check_signature(self, body, model.signing_name)
            content_type = f"application/x-amz-json-{model.metadata['jsonVersion']}"
            if self.headers.get("content-type") != content_type:
                raise AwsFault(400, "SerializationException", f"expected {content_type}")
            params = json.loads(body or b"{}")
            validate(operation.input_shape, params, f"{op} request")
            with LOCK:
                STATE["calls"].append({"op": op, "who": who["arn"], "protocol": f"json-{model.metadata['jsonVersion']}", "input": params})
                if STATE["throttle"] > 0:
                    STATE["throttle"] -= 1
                    raise AwsFault(400, "ThrottlingException", "Rate exceeded")
                try:
                    out = HANDLERS[name](op, params, who)
                except deploy.Fault as f:
                    raise AwsFault(f.status, f.code, f.message)
            validate(operation.output_shape, out, f"{op} answer")
            return self.reply(200, json.dumps(out).encode(), content_type)
        except AwsFault as f:
            error = {"__type": f.code, "message": f.message}
            return self.reply(f.status, json.dumps(error).encode(), "application/x-amz-json-1.1")
        except AssertionError as e:
            with LOCK:
                STATE["problems"].append(str(e))
            return self.reply(500, json.dumps({"__type": "ContractViolation", "message": str(e)}).encode(), "application/x-amz-json-1.1")

    def sso(self):
        """IAM Identity Center's portal: GetRoleCredentials for the bearer of an `aws sso login` token."""
        query = dict(parse_qsl(urlparse(self.path).query))
        params = {"roleName": query.get("role_name"), "accountId": query.get("account_id"),
                  "accessToken": self.headers.get("x-amz-sso_bearer_token")}
        operation = SSO_MODEL.operation_model("GetRoleCredentials")
        try:
            validate(operation.input_shape, params, "GetRoleCredentials request")
            if params["accessToken"] != SSO_TOKEN:
                return self.reply(401, json.dumps({"message": "Session token not found or invalid"}).encode(), "application/json",
                                  {"x-amzn-errortype": "UnauthorizedException"})
            if (params["accountId"], params["roleName"]) != (SSO_ACCOUNT, SSO_ROLE):
                return self.reply(403, json.dumps({"message": "No access"}).encode(), "application/json", {"x-amzn-errortype": "ForbiddenException"})
            key = issue("ASIASSO", f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_{SSO_ROLE}_1a2b/alice")
            out = {"roleCredentials": {"accessKeyId": key, "secretAccessKey": KEYS[key]["secret"], "sessionToken": KEYS[key]["token"],
                                       "expiration": int((now().timestamp() + 3600) * 1000)}}
            validate(operation.output_shape, out, "GetRoleCredentials answer")
            return self.reply(200, json.dumps(out).encode(), "application/json")
        except AssertionError as e:
            with LOCK:
                STATE["problems"].append(str(e))
            return self.reply(500, b"{}", "application/json")

    def sts(self, body):
        params = dict(parse_qsl(body.decode()))
        if params.get("Action") == "AssumeRoleWithWebIdentity":
            return self.assume_role_with_web_identity(params)
        if params.get("Action") in deploy.QUERY_HANDLERS:
            return self.elbv2(body, params)
        try:
            who = check_signature(self, body, "sts")
            if params.get("Action") == "AssumeRole":
                return self.assume_role(who, params)
            if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
                raise AwsFault(400, "InvalidAction", str(params.get("Action")))
            xml = (f'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
                   f'<Arn>{who["arn"]}</Arn><UserId>AROAEXAMPLE:alice</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult>'
                   f'<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>')
            self.reply(200, xml.encode(), "text/xml")
        except AwsFault as f:
            xml = f"<ErrorResponse><Error><Type>Sender</Type><Code>{f.code}</Code><Message>{f.message}</Message></Error></ErrorResponse>"
            self.reply(f.status if f.status != 400 else 403, xml.encode(), "text/xml")

    def elbv2(self, body, params):
        """ELBv2's query protocol: the request's list rebuilt and held to the model, the XML answer
        parsed back with botocore's own query parser and held to it too."""
        action = params["Action"]
        operation = ELBV2_MODEL.operation_model(action)
        try:
            who = check_signature(self, body, "elasticloadbalancing")
            if params.get("Version") != "2015-12-01":
                raise AwsFault(400, "InvalidAction", "Version")
            lists = {}
            for k, v in params.items():
                if ".member." in k:
                    lists.setdefault(k.split(".member.")[0], []).append(v)
            validate(operation.input_shape, lists, f"{action} request")
            with LOCK:
                STATE["calls"].append({"op": action, "who": who["arn"], "protocol": "query", "input": lists})
                xml = deploy.QUERY_HANDLERS[action](params)
            parsed = QueryParser().parse({"body": xml.encode(), "status_code": 200, "headers": {}}, operation.output_shape)
            parsed.pop("ResponseMetadata", None)
            validate(operation.output_shape, parsed, f"{action} answer")
            return self.reply(200, xml.encode(), "text/xml")
        except (AwsFault, deploy.Fault) as f:
            xml = f"<ErrorResponse><Error><Type>Sender</Type><Code>{f.code}</Code><Message>{f.message}</Message></Error></ErrorResponse>"
            return self.reply(f.status, xml.encode(), "text/xml")
        except AssertionError as e:
            with LOCK:
                STATE["problems"].append(str(e))
            return self.reply(500, b"", "text/xml")

    def assume_role(self, who, params):
        """Signed with the source's keys; only the Deployer role, which alice's keys may assume."""
        fields = sts_request("AssumeRole", params)
        if fields is None:
            return self.reply(500, b"", "text/xml")
        if fields["RoleArn"] != DEPLOYER_ROLE or not who["approve"]:
            raise AwsFault(403, "AccessDenied", f"User: {who['arn']} is not authorized to perform: sts:AssumeRole on resource: {fields['RoleArn']}")
        with LOCK:
            STATE["calls"].append({"op": "AssumeRole", "who": who["arn"], "protocol": "query", "input": {"RoleArn": fields["RoleArn"], "RoleSessionName": fields["RoleSessionName"]}})
        key = issue("ASIAROLE", f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/{fields['RoleSessionName']}")
        return self.reply(200, role_answer("AssumeRole", key, fields["RoleSessionName"]), "text/xml")

    def assume_role_with_web_identity(self, params):
        """Unsigned, as STS takes it: the OIDC token is the proof."""
        fields = sts_request("AssumeRoleWithWebIdentity", params)
        if fields is None:
            return self.reply(500, b"", "text/xml")
        if params.get("Version") != "2011-06-15" or fields["WebIdentityToken"] != WEB_IDENTITY_TOKEN or fields["RoleArn"] != DEPLOYER_ROLE:
            xml = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error></ErrorResponse>"
            return self.reply(400, xml.encode(), "text/xml")
        key = issue("ASIAWEBID", f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/{fields['RoleSessionName']}")
        return self.reply(200, role_answer("AssumeRoleWithWebIdentity", key, fields["RoleSessionName"]), "text/xml")

    def control(self, what, args):
        with LOCK:
            if what.startswith("ecs/"):
                out = deploy.control(what[len("ecs/"):], args)
                if out is None:
                    return self.reply(404, b"{}", "application/json")
                return self.reply(200, json.dumps(out).encode(), "application/json")
            out = pipeline.control(what, args)
            if out is not None:
                return self.reply(200, json.dumps(out).encode(), "application/json")
            if what == "throttle":
                STATE["throttle"] = args["count"]
            elif what == "expire":
                STATE["expired"].add(args["key"])
            elif what == "renew":
                STATE["expired"].discard(args["key"])
            else:
                return self.reply(404, b"{}", "application/json")
            return self.reply(200, b"{}", "application/json")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
