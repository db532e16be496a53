"""The Cloud Build world the double serves: project `payments-prod`, region `us-central1`, two
triggers (`deploy-prod` needs an approval, `ci-main` does not), builds made by running them, and
their logs in the logs bucket. Builds move when the test says: started, a step writing lines and
finishing, the build finishing. As Cloud Build's discovery document says, a step's status is only
filled in when the build finishes; while it runs, its timing shows where it is."""

import datetime
import re
import uuid

PROJECT = "payments-prod"
REGION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
BUCKET = f"{PROJECT}_cloudbuild"
TRIGGERS = [
    {"id": "7d5c2f0e-1b1a-4c7e-9a0e-3f3d8f2b6a11", "name": "deploy-prod", "description": "Deploy payments-api to production",
     "approvalConfig": {"approvalRequired": True}, "filename": "cloudbuild.yaml"},
    {"id": "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6", "name": "ci-main", "description": "Tests on main", "filename": "cloudbuild.yaml"},
]
STEPS = [("unit", "golang:1.23"), ("scan", "aquasec/trivy:0.58.0"), ("deploy", "gcr.io/cloud-builders/gcloud")]
BUILDS = {}  # id → build as the API answers it, plus private fields (leading underscore)
ORDER = []  # newest first
OBJECTS = {}  # (bucket, object) → bytes
ENTRIES = []  # Cloud Logging entries of builds that log there only
LOGGING = {"only": False}  # new builds log to Cloud Logging only (options.logging CLOUD_LOGGING_ONLY)


class Fault(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public(b):
    return {k: v for k, v in b.items() if not k.startswith("_")}


def build_of(name):
    b = BUILDS.get(name.rsplit("/", 1)[-1])
    if b is None or not name.startswith(PARENT + "/builds/"):
        raise Fault(404, "NOT_FOUND", f"Build \"{name.rsplit('/', 1)[-1]}\" not found.")
    return b


def must_act(may_act, permission, who):
    if not may_act:
        raise Fault(403, "PERMISSION_DENIED", f"The caller does not have permission: {who} lacks {permission}.")


def log(b, text):
    if b["options"].get("logging") == "CLOUD_LOGGING_ONLY":
        # As Cloud Build writes them: the step in the `build_step` label, the text without it.
        m = re.match(r'^(Step #\d+(?: - "[^"]*")?): (.*)$', text)
        step, payload = (m.group(1), m.group(2)) if m else ("MAIN", text)
        ENTRIES.append({"insertId": uuid.uuid4().hex[:14], "timestamp": now(), "textPayload": payload,
                        "labels": {"build_step": step}, "logName": f"projects/{PROJECT}/logs/cloudbuild",
                        "resource": {"type": "build", "labels": {"build_id": b["id"], "project_id": PROJECT}},
                        "severity": "INFO", "receiveTimestamp": now()})
        return
    key = (BUCKET, f"logs/log-{b['id']}.txt")
    OBJECTS[key] = OBJECTS.get(key, b"") + (text + "\n").encode()


def operation(b):
    return {"name": f"{PARENT}/operations/{uuid.uuid4()}", "done": False,
            "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata", "build": public(b)}}


def new_build(trigger, source, subs_in):
    bid = str(uuid.uuid4())
    subs = {"PROJECT_ID": PROJECT, "TRIGGER_NAME": trigger["name"], "REPO_NAME": "payments-api", "REF_NAME": "main", "BRANCH_NAME": "main",
            "COMMIT_SHA": "0b5e3d52c2a4f5b7e9d1c3a5b7e9f1a3c5d7e9f1", "SHORT_SHA": "0b5e3d5"}
    if source.get("branchName"):
        subs["BRANCH_NAME"] = subs["REF_NAME"] = source["branchName"]
    if source.get("tagName"):
        subs.pop("BRANCH_NAME")
        subs["TAG_NAME"] = subs["REF_NAME"] = source["tagName"]
    if source.get("commitSha"):
        subs["COMMIT_SHA"], subs["SHORT_SHA"] = source["commitSha"], source["commitSha"][:7]
    subs.update(subs_in or {})
    approval = trigger.get("approvalConfig", {}).get("approvalRequired", False)
    b = {"id": bid, "name": f"{PARENT}/builds/{bid}", "projectId": PROJECT, "buildTriggerId": trigger["id"],
         "status": "PENDING" if approval else "QUEUED", "createTime": now(),
         "steps": [{"id": sid, "name": image, "args": ["run"]} for sid, image in STEPS],
         "substitutions": subs, "logsBucket": f"gs://{BUCKET}/logs", "tags": [f"trigger-{trigger['id']}"],
         "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={REGION}/{bid}?project={PROJECT}",
         "options": {"logging": "CLOUD_LOGGING_ONLY" if LOGGING["only"] else "GCS_ONLY"}, "_outcomes": {}}
    if LOGGING["only"]:
        b.pop("logsBucket")
    if approval:
        b["approval"] = {"state": "PENDING", "config": {"approvalRequired": True}}
    BUILDS[bid] = b
    ORDER.insert(0, bid)
    return b


def matches(b, flt):
    for term in [t.strip() for t in flt.split(" AND ") if t.strip()]:
        field, value = term.split("=", 1)
        value = value.strip('"')
        if field == "trigger_id" and b.get("buildTriggerId") != value:
            return False
        if field == "status" and b["status"] != value:
            return False
        if field.startswith("substitutions.") and b["substitutions"].get(field.split(".", 1)[1]) != value:
            return False
    return True


def entries(body):
    """Cloud Logging's entries.list, for the filters flightdeck and gcloud send for a build."""
    flt = body.get("filter", "")
    build = re.search(r'resource\.labels\.build_id="([^"]+)"', flt)
    after = re.search(r'timestamp>="([^"]+)"', flt)
    found = [e for e in ENTRIES if build and e["resource"]["labels"]["build_id"] == build.group(1)
             and (not after or e["timestamp"] >= after.group(1))]
    if body.get("orderBy", "timestamp asc").endswith("desc"):
        found.reverse()
    start, size = int(body.get("pageToken") or 0), int(body.get("pageSize") or 50)
    answer = {"entries": found[start:start + size]}
    if start + size < len(found):
        answer["nextPageToken"] = str(start + size)
    return answer


def handle(method, params, query, body, who, may_act):
    if method == "logging.entries.list":
        return entries(body)
    if method.endswith("locations.triggers.list"):
        return {"triggers": TRIGGERS}
    if method.endswith("locations.triggers.run"):
        must_act(may_act, "cloudbuild.builds.create", who)
        trigger = next((t for t in TRIGGERS if params["name"].endswith("/triggers/" + t["id"])), None)
        if trigger is None:
            raise Fault(404, "NOT_FOUND", f"trigger {params['name']} not found")
        source = body.get("source", {})
        return operation(new_build(trigger, source, source.get("substitutions")))
    if method.endswith("locations.builds.list"):
        found = [public(BUILDS[i]) for i in ORDER if matches(BUILDS[i], query.get("filter", ""))]
        start = int(query.get("pageToken") or 0)
        size = int(query.get("pageSize") or 25)
        answer = {"builds": found[start:start + size]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer
    if method.endswith("locations.builds.get"):
        return public(build_of(params["name"]))
    if method.endswith("locations.builds.approve"):
        b = build_of(params["name"])
        must_act(may_act, "cloudbuild.builds.approve", who)
        if b["status"] != "PENDING" or b.get("approval", {}).get("state") != "PENDING":
            raise Fault(400, "FAILED_PRECONDITION", "Build is not pending approval.")
        result = body["approvalResult"]
        approved = result["decision"] == "APPROVED"
        b["approval"].update({"state": "APPROVED" if approved else "REJECTED",
                              "result": {"approverAccount": who, "approvalTime": now(), "decision": result["decision"],
                                         "comment": result.get("comment", "")}})
        b["status"] = "QUEUED" if approved else "CANCELLED"
        if not approved:
            b["finishTime"] = now()
        return operation(b)
    if method.endswith("locations.builds.cancel"):
        b = build_of(params["name"])
        must_act(may_act, "cloudbuild.builds.update", who)
        if b["status"] not in ("PENDING", "QUEUED", "WORKING"):
            raise Fault(400, "FAILED_PRECONDITION", f"Build is already finished: {b['status']}.")
        if b.get("approval", {}).get("state") == "PENDING":
            b["approval"]["state"] = "CANCELLED"
        for s in b["steps"]:
            if "timing" in s and "endTime" not in s["timing"]:
                s["timing"]["endTime"] = now()
                s["status"] = "CANCELLED"
        b["status"], b["finishTime"] = "CANCELLED", now()
        log(b, "ERROR: build step cancelled")
        return public(b)
    if method.endswith("locations.builds.retry"):
        old = build_of(params["name"])
        must_act(may_act, "cloudbuild.builds.create", who)
        trigger = next(t for t in TRIGGERS if t["id"] == old["buildTriggerId"])
        return operation(new_build(trigger, {}, {k: v for k, v in old["substitutions"].items() if k.startswith("_")}))
    raise Fault(501, "UNIMPLEMENTED", f"{method} is not served by this double")


def control(what, args):
    if what == "logging-only":
        LOGGING["only"] = args["on"]
        return {}
    b = BUILDS.get(args.get("build") or (ORDER[0] if ORDER else ""))
    if what == "newest":
        return {"id": ORDER[0] if ORDER else None}
    if b is None:
        return None
    if what == "start":
        b["status"], b["startTime"] = "WORKING", now()
        for line in [f'starting build "{b["id"]}"', "", "FETCHSOURCE", "BUILD"]:
            log(b, line)
        return {}
    if what == "step":
        i = args["index"]
        step = b["steps"][i]
        label = f'Step #{i} - "{step["id"]}"'
        if "timing" not in step:
            step["timing"] = {"startTime": now()}
            log(b, f"Starting {label}")
        for line in args.get("lines", []):
            log(b, f"{label}: {line}")
        if "status" in args:
            step["timing"]["endTime"] = now()
            b["_outcomes"][i] = args["status"]
            if args["status"] != "SUCCESS":
                step["exitCode"] = 1
            log(b, f"Finished {label}")
        return {}
    if what == "finish":
        b["status"], b["finishTime"] = args["status"], now()
        for i, step in enumerate(b["steps"]):
            if i in b["_outcomes"]:
                step["status"] = b["_outcomes"][i]
        if args["status"] == "FAILURE":
            failed = next((i for i, o in b["_outcomes"].items() if o != "SUCCESS"), 0)
            b["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": f'Build step failure: build step {failed} "{b["steps"][failed]["name"]}" failed: step exited with non-zero status: 1'}
            log(b, f"ERROR: build step {failed} \"{b['steps'][failed]['name']}\" failed: step exited with non-zero status: 1")
        else:
            log(b, "PUSH")
            log(b, "DONE")
        return {}
    if what == "artifact":
        b["artifacts"] = {"objects": {"location": f"gs://{PROJECT}-reports/{b['id']}/", "paths": [args["name"]]}}
        OBJECTS[(f"{PROJECT}-reports", f"{b['id']}/{args['name']}")] = args["content"].encode()
        return {}
    return None
