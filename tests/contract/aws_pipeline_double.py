"""The CodePipeline half of the AWS double: a pipeline (Source → Build → Test → Security → a
manual approval → Deploy) whose executions, CodeBuild builds with their CloudWatch Logs streams,
and report groups move on when the tests say (`control`). The wire (aws_double.py) holds every
request and answer to botocore's models and routes here.
"""

import datetime
import uuid

ACCOUNT = "123456789012"
STATE = {"executions": {}, "order": [], "builds": {}, "reports": {}}


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
            extra = {"reportArns": list(b["reports"])} if b.get("reports") else {}
            if b.get("artifacts"):
                extra["artifacts"] = b["artifacts"][0]
                extra["secondaryArtifacts"] = b["artifacts"][1:]
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


def control(what, args):
    """Scripted progress: start an execution, append a build's log lines, finish an action, attach
    a report group's report. None: not one of these."""
    if what == "start":
        ex = start_execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/webhook", "Webhook", {})
        return {"id": ex["id"]}
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
    elif what == "artifact":
        # Where the action's build put an artifact (the tests write the object itself to S3).
        ex = STATE["executions"][args["execution"]]
        rec = next(a for a in reversed(ex["actions"]) if a["action"] == args["action"])
        artifact = {"location": args["location"]}
        if args.get("identifier"):
            artifact["artifactIdentifier"] = args["identifier"]
        STATE["builds"][rec["external"]].setdefault("artifacts", []).append(artifact)
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
    else:
        return None
    return {}
