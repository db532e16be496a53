"""A stateful double of CodePipeline, CodeBuild, CloudWatch Logs and STS that holds every
exchange to AWS's own contract: requests are SigV4-checked with botocore's signer and validated
against botocore's service models, and so is every answer before it is sent. It speaks the JSON
1.1 protocol (X-Amz-Target), which the AWS CLI and boto3 of these versions use for these services
(`/_control/calls` shows what each call came as), and the query protocol for STS.

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
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.validate import ParamValidator

SESSION = botocore.session.get_session()
MODELS = {name: SESSION.get_service_model(name) for name in ("codepipeline", "codebuild", "logs", "codedeploy", "ecs", "cloudwatch", "ecr")}
BY_PREFIX = {m.metadata["targetPrefix"]: (name, m) for name, m in MODELS.items()}
ACCOUNT = "123456789012"
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
LOCK = threading.RLock()
STATE = {"executions": {}, "order": [], "builds": {}, "reports": {}, "throttle": 0, "expired": set(), "calls": [], "problems": []}
PIPELINE = "payments"
STAGES = [
    ("Source", [("Source", {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                 {"ConnectionArn": f"arn:aws:codeconnections:eu-west-1:{ACCOUNT}:connection/1", "FullRepositoryId": "shop/payments", "BranchName": "main"})]),
    ("Build", [("Build", {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, {"ProjectName": "payments-build"})]),
    ("Test", [("UnitTests", {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, {"ProjectName": "payments-test"})]),
    ("Security", [("Scan", {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, {"ProjectName": "payments-scan"})]),
    ("Approval", [("ApproveProd", {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                   {"CustomData": "PCI change: production deploy of payments, see the change ticket", "ExternalEntityLink": "https://tickets.example/CHG-1042",
                    "NotificationArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:release-approvals"})]),
    ("Deploy", [("DeployProd", {"category": "Deploy", "owner": "AWS", "provider": "CodeDeployToECS", "version": "1"}, {"ApplicationName": "payments"})]),
]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class AwsFault(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---- the service --------------------------------------------------------------------------------


def declaration():
    stages = []
    for name, actions in STAGES:
        decl = []
        for action, type_id, config in actions:
            a = {"name": action, "actionTypeId": type_id, "runOrder": 1, "configuration": config}
            if type_id["category"] == "Approval":
                a["timeoutInMinutes"] = 1440
            decl.append(a)
        stages.append({"name": name, "actions": decl})
    return {"name": PIPELINE, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/pipeline", "stages": stages, "version": 3,
            "artifactStore": {"type": "S3", "location": "pipeline-artifacts"}, "pipelineType": "V2", "executionMode": "QUEUED",
            "variables": [{"name": "RELEASE_NOTE", "defaultValue": "none"}]}


def start_execution(who, trigger_type, variables):
    eid = str(uuid.uuid4())
    ex = {"id": eid, "status": "InProgress", "stage": 0, "actions": [], "trigger": {"triggerType": trigger_type, "triggerDetail": who},
          "variables": variables, "started": now(), "updated": now(), "revision": "9f1c2ab", "summary": "Fix rounding of refunds"}
    STATE["executions"][eid] = ex
    STATE["order"].insert(0, eid)
    enter_stage(ex, 0)
    return ex


def enter_stage(ex, index):
    ex["stage"] = index
    name, actions = STAGES[index]
    for action, type_id, _ in actions:
        rec = {"id": str(uuid.uuid4()), "stage": name, "action": action, "status": "InProgress", "start": now(), "updated": now(),
               "token": None, "external": None, "summary": None, "updatedBy": None, "error": None}
        if type_id["category"] == "Approval":
            rec["token"] = str(uuid.uuid4())
        if type_id["provider"] == "CodeBuild":
            build = f"{STAGES[index][1][0][2]['ProjectName']}:{uuid.uuid4()}"
            STATE["builds"][build] = {"status": "IN_PROGRESS", "complete": False, "lines": [], "stream": build.split(":")[1],
                                      "group": f"/aws/codebuild/{build.split(':')[0]}"}
            rec["external"] = build
        ex["actions"].append(rec)


def current(ex):
    """The newest attempt of each action of the execution's current stage."""
    latest = {}
    for a in ex["actions"]:
        if a["stage"] == STAGES[ex["stage"]][0]:
            latest[a["action"]] = a
    return list(latest.values())


def finish_action(ex, rec, ok, summary=None, by=None):
    rec["status"] = "Succeeded" if ok else "Failed"
    rec["updated"] = now()
    rec["summary"] = summary
    rec["updatedBy"] = by
    rec["token"] = None
    if not ok:
        rec["error"] = {"code": "JobFailed", "message": summary or "the action failed"}
    if rec["external"] in STATE["builds"]:
        b = STATE["builds"][rec["external"]]
        b["status"], b["complete"] = ("SUCCEEDED" if ok else "FAILED"), True
    settle(ex)


def settle(ex):
    """Moves an execution on once every action of its stage has finished."""
    acts = current(ex)
    if any(a["status"] == "InProgress" for a in acts):
        return
    ex["updated"] = now()
    if any(a["status"] == "Failed" for a in acts):
        ex["status"] = "Failed"
    elif ex["stage"] + 1 < len(STAGES):
        enter_stage(ex, ex["stage"] + 1)
    else:
        ex["status"] = "Succeeded"


def ts(d):
    return d.timestamp() if d else None


def summary_of(ex):
    out = {"pipelineExecutionId": ex["id"], "status": ex["status"], "startTime": ts(ex["started"]), "lastUpdateTime": ts(ex["updated"]),
           "sourceRevisions": [{"actionName": "Source", "revisionId": ex["revision"], "revisionSummary": ex["summary"],
                                "revisionUrl": f"https://github.com/shop/payments/commit/{ex['revision']}"}],
           "trigger": ex["trigger"], "executionMode": "QUEUED", "executionType": "STANDARD"}
    if ex.get("stopReason"):
        out["stopTrigger"] = {"reason": ex["stopReason"]}
    return out


def execution(params):
    ex = STATE["executions"].get(params.get("pipelineExecutionId"))
    if not ex or params.get("pipelineName", params.get("name")) != PIPELINE:
        raise AwsFault(400, "PipelineExecutionNotFoundException", "execution not found")
    return ex


def check_pipeline(params):
    if params.get("pipelineName", params.get("name")) != PIPELINE:
        raise AwsFault(400, "PipelineNotFoundException", f"Account '{ACCOUNT}' does not have a pipeline with name '{params.get('pipelineName', params.get('name'))}'")


def op_codepipeline(op, p, who):
    if op == "ListPipelines":
        return {"pipelines": [{"name": PIPELINE, "version": 3, "pipelineType": "V2", "executionMode": "QUEUED", "created": ts(now()), "updated": ts(now())}]}
    check_pipeline(p)
    if op == "GetPipeline":
        return {"pipeline": declaration(), "metadata": {"pipelineArn": f"arn:aws:codepipeline:eu-west-1:{ACCOUNT}:{PIPELINE}"}}
    if op == "ListPipelineExecutions":
        ids = STATE["order"]
        start = int(p.get("nextToken") or 0)
        page = ids[start:start + p.get("maxResults", 100)]
        out = {"pipelineExecutionSummaries": [summary_of(STATE["executions"][i]) for i in page]}
        if start + len(page) < len(ids):
            out["nextToken"] = str(start + len(page))
        return out
    if op == "GetPipelineExecution":
        ex = execution(p)
        return {"pipelineExecution": {"pipelineName": PIPELINE, "pipelineVersion": 3, "pipelineExecutionId": ex["id"], "status": ex["status"],
                                      "artifactRevisions": [{"name": "SourceArtifact", "revisionId": ex["revision"], "revisionSummary": ex["summary"],
                                                             "revisionUrl": f"https://github.com/shop/payments/commit/{ex['revision']}"}],
                                      "trigger": ex["trigger"], "executionMode": "QUEUED", "executionType": "STANDARD",
                                      "variables": [{"name": k, "resolvedValue": v} for k, v in ex["variables"].items()]}}
    if op == "GetPipelineState":
        stages = []
        for name, actions in STAGES:
            latest = next((e for e in (STATE["executions"][i] for i in STATE["order"]) if any(a["stage"] == name for a in e["actions"])), None)
            entry = {"stageName": name, "actionStates": []}
            if latest:
                recs = [a for a in latest["actions"] if a["stage"] == name]
                entry["latestExecution"] = {"pipelineExecutionId": latest["id"], "status": recs[-1]["status"] if recs else "InProgress"}
                for action, _, _ in actions:
                    a = next((r for r in reversed(recs) if r["action"] == action), None)
                    state = {"actionName": action}
                    if a:
                        le = {"actionExecutionId": a["id"], "status": a["status"], "lastStatusChange": ts(a["updated"])}
                        if a["token"]:
                            le["token"] = a["token"]
                        if a["summary"]:
                            le["summary"] = a["summary"]
                        if a["external"]:
                            le["externalExecutionId"] = a["external"]
                        if a["error"]:
                            le["errorDetails"] = a["error"]
                        state["latestExecution"] = le
                    entry["actionStates"].append(state)
            stages.append(entry)
        return {"pipelineName": PIPELINE, "pipelineVersion": 3, "stageStates": stages, "created": ts(now()), "updated": ts(now())}
    if op == "ListActionExecutions":
        wanted = (p.get("filter") or {}).get("pipelineExecutionId")
        details = []
        for eid in STATE["order"]:
            if wanted and eid != wanted:
                continue
            for a in reversed(STATE["executions"][eid]["actions"]):
                d = {"pipelineExecutionId": eid, "actionExecutionId": a["id"], "pipelineVersion": 3, "stageName": a["stage"],
                     "actionName": a["action"], "startTime": ts(a["start"]), "lastUpdateTime": ts(a["updated"]), "status": a["status"],
                     "input": {}, "output": {"executionResult": {}}}
                if a["updatedBy"]:
                    d["updatedBy"] = a["updatedBy"]
                result = d["output"]["executionResult"]
                if a["external"]:
                    result["externalExecutionId"] = a["external"]
                    result["externalExecutionUrl"] = f"https://console.aws.amazon.com/codesuite/codebuild/projects/build/{a['external']}"
                if a["summary"]:
                    result["externalExecutionSummary"] = a["summary"]
                if a["error"]:
                    result["errorDetails"] = a["error"]
                if a.get("exported"):
                    d["output"]["outputVariables"] = a["exported"]
                details.append(d)
        return {"actionExecutionDetails": details}
    if op == "StartPipelineExecution":
        names = {v["name"] for v in declaration()["variables"]}
        variables = {v["name"]: v["value"] for v in p.get("variables", [])}
        unknown = set(variables) - names
        if unknown:
            raise AwsFault(400, "ValidationException", f"variables not declared by the pipeline: {sorted(unknown)}")
        ex = start_execution(who["arn"], "StartPipelineExecution", variables)
        for r in p.get("sourceRevisions", []):
            if r["actionName"] != "Source" or r["revisionType"] != "COMMIT_ID":
                raise AwsFault(400, "ValidationException", f"no source action {r['actionName']} taking {r['revisionType']}")
            ex["revision"], ex["summary"] = r["revisionValue"], f"commit {r['revisionValue']} (chosen when started)"
        return {"pipelineExecutionId": ex["id"]}
    if op == "StopPipelineExecution":
        ex = execution(p)
        if ex["status"] != "InProgress":
            raise AwsFault(400, "PipelineExecutionNotStoppableException", "Unable to stop pipeline execution since it is not in progress")
        ex["status"], ex["stopReason"], ex["updated"] = "Stopped", p.get("reason", ""), now()
        for a in ex["actions"]:
            if a["status"] == "InProgress":
                a["status"], a["token"], a["updated"] = "Abandoned", None, now()
        return {"pipelineExecutionId": ex["id"]}
    if op == "RetryStageExecution":
        ex = execution(p)
        index = next((i for i, (n, _) in enumerate(STAGES) if n == p["stageName"]), None)
        if ex["status"] != "Failed" or index != ex["stage"]:
            raise AwsFault(400, "StageNotRetryableException", f"stage {p['stageName']} of this execution did not fail")
        failed = [a for a in current(ex) if a["status"] == "Failed"]
        ex["status"] = "InProgress"
        for a in (failed if p["retryMode"] == "FAILED_ACTIONS" else current(ex)):
            enter_action_again(ex, a)
        return {"pipelineExecutionId": ex["id"]}
    if op == "PutApprovalResult":
        if not who["approve"]:
            raise AwsFault(400, "AccessDeniedException",
                           f"User: {who['arn']} is not authorized to perform: codepipeline:PutApprovalResult on resource: "
                           f"arn:aws:codepipeline:eu-west-1:{ACCOUNT}:{PIPELINE}/{p['stageName']}/{p['actionName']} because no identity-based policy allows it")
        for ex in STATE["executions"].values():
            for a in ex["actions"]:
                if a["stage"] == p["stageName"] and a["action"] == p["actionName"] and a.get("issued") == p["token"] and a["status"] != "InProgress":
                    raise AwsFault(400, "ApprovalAlreadyCompletedException", "Approval has already been completed")
                if a["stage"] == p["stageName"] and a["action"] == p["actionName"] and a["token"] == p["token"]:
                    a["issued"] = a["token"]
                    ok = p["result"]["status"] == "Approved"
                    finish_action(ex, a, ok, p["result"]["summary"], who["arn"])
                    return {"approvedAt": ts(now())}
        raise AwsFault(400, "InvalidApprovalTokenException", "The token provided does not match the approval action")
    raise AwsFault(400, "UnknownOperationException", op)


def enter_action_again(ex, old):
    rec = dict(old, id=str(uuid.uuid4()), status="InProgress", start=now(), updated=now(), summary=None, error=None, updatedBy=None)
    if old["external"]:
        build = f"{old['external'].split(':')[0]}:{uuid.uuid4()}"
        STATE["builds"][build] = {"status": "IN_PROGRESS", "complete": False, "lines": [], "stream": build.split(":")[1],
                                  "group": f"/aws/codebuild/{build.split(':')[0]}"}
        rec["external"] = build
    ex["actions"].append(rec)


def op_codebuild(op, p, who):
    if op == "BatchGetBuilds":
        builds, missing = [], []
        for i in p["ids"]:
            b = STATE["builds"].get(i)
            if not b:
                missing.append(i)
                continue
            if b.get("reports"):
                extra = {"reportArns": list(b["reports"])}
            else:
                extra = {}
            builds.append({**extra, "id": i, "arn": f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:build/{i}", "buildStatus": b["status"], "buildComplete": b["complete"],
                           "projectName": i.split(":")[0], "currentPhase": "COMPLETED" if b["complete"] else "BUILD",
                           "logs": {"groupName": b["group"], "streamName": b["stream"], "deepLink": f"https://console.aws.amazon.com/cloudwatch/home#logEvent:group={b['group']}"}})
        out = {"builds": builds}
        if missing:
            out["buildsNotFound"] = missing
        return out
    if op == "BatchGetReports":
        found = [STATE["reports"][a] for a in p["reportArns"] if a in STATE["reports"]]
        return {"reports": [r["summary"] for r in found]}
    if op == "DescribeTestCases":
        r = STATE["reports"].get(p["reportArn"])
        if r is None:
            raise AwsFault(400, "ResourceNotFoundException", "report not found")
        start = int(p.get("nextToken") or 0)
        page = r["cases"][start:start + p.get("maxResults", 50)]
        out = {"testCases": page}
        if start + len(page) < len(r["cases"]):
            out["nextToken"] = str(start + len(page))
        return out
    if op == "DescribeCodeCoverages":
        r = STATE["reports"].get(p["reportArn"])
        if r is None:
            raise AwsFault(400, "ResourceNotFoundException", "report not found")
        return {"codeCoverages": r["files"]}
    raise AwsFault(400, "UnknownOperationException", op)


def op_logs(op, p, who):
    if op == "GetLogEvents":
        b = next((b for b in STATE["builds"].values() if b["group"] == p["logGroupName"] and b["stream"] == p["logStreamName"]), None)
        if b is None or not b["lines"]:
            raise AwsFault(400, "ResourceNotFoundException", "The specified log stream does not exist.")
        token = p.get("nextToken")
        start = int(token.split("/")[1]) if token else 0
        page = b["lines"][start:start + p.get("limit", 10000)]
        end = start + len(page)
        return {"events": [{"timestamp": t, "message": m, "ingestionTime": t} for t, m in page],
                "nextForwardToken": f"f/{end:056d}", "nextBackwardToken": f"b/{start:056d}"}
    raise AwsFault(400, "UnknownOperationException", op)


HANDLERS = {"codepipeline": op_codepipeline, "codebuild": op_codebuild, "logs": op_logs, **deploy.HANDLERS}

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
            if what == "start":
                ex = start_execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/webhook", "Webhook", {})
                return self.reply(200, json.dumps({"id": ex["id"]}).encode(), "application/json")
            if what == "log":
                ex = STATE["executions"][args["execution"]]
                rec = next(a for a in reversed(ex["actions"]) if a["action"] == args["action"])
                b = STATE["builds"][rec["external"]]
                base = int(now().timestamp() * 1000)
                b["lines"].extend((base + i, line) for i, line in enumerate(args["lines"]))
            elif what == "finish":
                ex = STATE["executions"][args["execution"]]
                rec = next(a for a in reversed(ex["actions"]) if a["action"] == args["action"] and a["status"] == "InProgress")
                rec["exported"] = args.get("exported")
                finish_action(ex, rec, args.get("ok", True), args.get("summary"))
            elif what == "report":
                # A report group's report for the action's build: test cases, or coverage of files.
                ex = STATE["executions"][args["execution"]]
                rec = next(a for a in reversed(ex["actions"]) if a["action"] == args["action"])
                arn = f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:report/{args['group']}:{uuid.uuid4()}"
                summary = {"arn": arn, "type": args["type"], "name": args["group"], "reportGroupArn": f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:report-group/{args['group']}",
                           "executionId": f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:build/{rec['external']}", "status": "SUCCEEDED", "created": ts(now())}
                cases, files = [], []
                if args["type"] == "TEST":
                    for c in args["cases"]:
                        case = {"reportArn": arn, "testRawDataPath": "reports/junit.xml", "prefix": c["prefix"], "name": c["name"], "status": c["status"],
                                "durationInNanoSeconds": 1000000, "expired": ts(now()) + 30 * 86400, "testSuiteName": c["prefix"]}
                        if c.get("message"):
                            case["message"] = c["message"]
                        cases.append(case)
                    counts = {}
                    for c in cases:
                        counts[c["status"]] = counts.get(c["status"], 0) + 1
                    summary["testSummary"] = {"total": len(cases), "statusCounts": counts, "durationInNanoSeconds": 1000000 * len(cases)}
                else:
                    covered = sum(f["covered"] for f in args["files"])
                    missed = sum(f["missed"] for f in args["files"])
                    summary["codeCoverageSummary"] = {"lineCoveragePercentage": round(100.0 * covered / (covered + missed), 2), "linesCovered": covered,
                                                      "linesMissed": missed, "branchCoveragePercentage": 0.0, "branchesCovered": 0, "branchesMissed": 0}
                    for f in args["files"]:
                        files.append({"id": str(uuid.uuid4()), "reportARN": arn, "filePath": f["path"], "linesCovered": f["covered"], "linesMissed": f["missed"],
                                      "lineCoveragePercentage": round(100.0 * f["covered"] / (f["covered"] + f["missed"]), 2), "expired": ts(now()) + 30 * 86400})
                STATE["reports"][arn] = {"summary": summary, "cases": cases, "files": files}
                STATE["builds"][rec["external"]].setdefault("reports", []).append(arn)
            elif what == "throttle":
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
