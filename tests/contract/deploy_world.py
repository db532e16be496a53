"""The Cloud Deploy world the double serves: project `payments-prod`, region `us-central1`, the
delivery pipeline `payments-api` going from `staging` (standard, verified) to `prod` (a canary at
25 % then 50 % then stable, verified; the target needs an approval). A release rolls out to
`staging` when it is created; rollouts move on as Cloud Deploy moves them: approval, each phase's
deploy then verify job, a wait for `advance` between phases. Jobs finish when the test says
(`/_control/deploy/job`). Requests that Cloud Deploy would refuse are refused in its words."""

import datetime
import uuid

from gcp_world import PARENT, Fault, must_act

PIPELINE = "payments-api"
PIPELINE_NAME = f"{PARENT}/deliveryPipelines/{PIPELINE}"
TARGETS = {
    "staging": {"requireApproval": False, "run": {"location": f"{PARENT}"}, "description": "Staging"},
    "prod": {"requireApproval": True, "run": {"location": f"{PARENT}"}, "description": "Production"},
}
STAGES = [
    {"targetId": "staging", "profiles": ["staging"], "strategy": {"standard": {"verify": True}}},
    {"targetId": "prod", "profiles": ["prod"], "strategy": {"canary": {
        "runtimeConfig": {"cloudRun": {"automaticTrafficControl": True}},
        "canaryDeployment": {"percentages": [25, 50], "verify": True}}}},
]
RELEASES = {}  # id → release
ROLLOUTS = {}  # name → rollout (private fields start with _)
JOB_RUNS = {}  # rollout name → [job run]
SEQUENCE = [0]


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public(r):
    return {k: v for k, v in r.items() if not k.startswith("_")}


def touch(r):
    r["etag"] = uuid.uuid4().hex[:16]


def stage_of(target):
    return next(s for s in STAGES if s["targetId"] == target)


def phases_for(target, rollback):
    canary = stage_of(target)["strategy"].get("canary")
    ids = ["stable"] if rollback or not canary else [f"canary-{p}" for p in canary["canaryDeployment"]["percentages"]] + ["stable"]
    return [{"id": i, "state": "PENDING", "deploymentJobs": {"deployJob": {"id": "deploy", "state": "PENDING"},
                                                           "verifyJob": {"id": "verify", "state": "PENDING"}}} for i in ids]


def jobs(phase):
    return [phase["deploymentJobs"]["deployJob"], phase["deploymentJobs"]["verifyJob"]]


def start_job(r, phase, job):
    job["state"] = "IN_PROGRESS"
    run = {"name": f"{r['name']}/jobRuns/{uuid.uuid4()}", "uid": uuid.uuid4().hex, "phaseId": phase["id"], "jobId": job["id"],
           "createTime": now(), "startTime": now(), "state": "IN_PROGRESS", "etag": uuid.uuid4().hex[:16]}
    run["deployJobRun" if job["id"] == "deploy" else "verifyJobRun"] = {"build": f"projects/123456789/locations/us-central1/builds/{uuid.uuid4()}"}
    job["jobRun"] = run["name"]
    JOB_RUNS.setdefault(r["name"], []).append(run)


def start_phase(r, phase):
    phase["state"] = "IN_PROGRESS"
    start_job(r, phase, phase["deploymentJobs"]["deployJob"])
    r.setdefault("deployStartTime", now())


def new_rollout(release, target, rollout_id, rollback_of=None):
    name = f"{PIPELINE_NAME}/releases/{release}/rollouts/{rollout_id}"
    if name in ROLLOUTS:
        raise Fault(409, "ALREADY_EXISTS", f"Resource '{name}' already exists")
    SEQUENCE[0] += 1
    r = {"name": name, "uid": uuid.uuid4().hex, "targetId": target, "createTime": now(), "phases": phases_for(target, rollback_of),
         "_seq": SEQUENCE[0]}
    if rollback_of:
        r["rollbackOfRollout"] = rollback_of["name"]
        rollback_of.setdefault("rolledBackByRollouts", []).append(name)
        touch(rollback_of)
    if TARGETS[target]["requireApproval"]:
        r["state"], r["approvalState"] = "PENDING_APPROVAL", "NEEDS_APPROVAL"
    else:
        r["state"], r["approvalState"] = "IN_PROGRESS", "DOES_NOT_NEED_APPROVAL"
        start_phase(r, r["phases"][0])
    touch(r)
    ROLLOUTS[name] = r
    return r


def latest(target):
    mine = [r for r in ROLLOUTS.values() if r["targetId"] == target]
    return max(mine, key=lambda r: r["_seq"]) if mine else None


def rollout_of(name):
    r = ROLLOUTS.get(name)
    if r is None:
        raise Fault(404, "NOT_FOUND", f"Resource '{name}' was not found")
    return r


def operation(target, verb):
    return {"name": f"{PARENT}/operations/operation-{uuid.uuid4().hex}", "done": False,
            "metadata": {"@type": "type.googleapis.com/google.cloud.deploy.v1.OperationMetadata", "createTime": now(),
                         "target": target, "verb": verb, "apiVersion": "v1"}}


def finish_job(r, outcome, message=""):
    """The job under way ends: the next job or phase goes on, or the rollout waits, ends or fails."""
    for i, phase in enumerate(r["phases"]):
        for job in jobs(phase):
            if job["state"] != "IN_PROGRESS":
                continue
            run = next(x for x in JOB_RUNS[r["name"]] if x["name"] == job["jobRun"])
            run["state"], run["endTime"] = outcome, now()
            if outcome == "FAILED":
                detail = run.get("verifyJobRun") or run.get("deployJobRun")
                detail.update({"failureCause": "EXECUTION_FAILED", "failureMessage": message})
                if job["id"] == "verify":
                    detail["artifactUri"] = f"gs://{PIPELINE}-verify/{r['uid']}/{phase['id']}/"
                job["state"], phase["state"], r["state"] = "FAILED", "FAILED", "FAILED"
                r["failureReason"] = f"Rollout failed: the {job['id']} job of phase {phase['id']} failed: {message}"
                r["deployFailureCause"] = "EXECUTION_FAILED"
            else:
                job["state"] = "SUCCEEDED"
                go_on(r, i, phase)
            touch(r)
            return True
    return False


def go_on(r, i, phase):
    """After a job of `phase` succeeded or was ignored: its next job, else the phase is done."""
    pending = [j for j in jobs(phase) if j["state"] == "PENDING"]
    if pending:
        start_job(r, phase, pending[0])
        return
    phase["state"] = "SUCCEEDED"
    if i + 1 == len(r["phases"]):
        r["state"], r["deployEndTime"] = "SUCCEEDED", now()
    else:
        r["state"] = "IN_PROGRESS"  # waits for advance


def handle(method, params, query, body, who, may_act):
    if method.endswith("deliveryPipelines.get"):
        if params["name"] != PIPELINE_NAME:
            raise Fault(404, "NOT_FOUND", f"Resource '{params['name']}' was not found")
        return {"name": PIPELINE_NAME, "uid": "b1c2d3", "description": "payments-api to staging, then prod by canary",
                "serialPipeline": {"stages": STAGES}, "etag": "p1", "createTime": "2026-10-01T09:00:00Z"}
    if method.endswith("locations.targets.list"):
        return {"targets": [{"name": f"{PARENT}/targets/{t}", "targetId": t, **v} for t, v in TARGETS.items()]}
    if method.endswith("deliveryPipelines.releases.create"):
        must_act(may_act, "clouddeploy.releases.create", who)
        rid = query["releaseId"]
        if rid in RELEASES:
            raise Fault(409, "ALREADY_EXISTS", f"Resource '{PIPELINE_NAME}/releases/{rid}' already exists")
        RELEASES[rid] = {"name": f"{PIPELINE_NAME}/releases/{rid}", "uid": uuid.uuid4().hex, "createTime": now(), "renderState": "SUCCEEDED",
                         "buildArtifacts": body.get("buildArtifacts", []), "description": body.get("description", ""),
                         "annotations": body.get("annotations", {})}
        new_rollout(rid, STAGES[0]["targetId"], f"{rid}-to-{STAGES[0]['targetId']}-0001")
        return operation(RELEASES[rid]["name"], "create")
    if method.endswith("deliveryPipelines.releases.get"):
        rid = params["name"].rsplit("/", 1)[-1]
        if rid not in RELEASES:
            raise Fault(404, "NOT_FOUND", f"Resource '{params['name']}' was not found")
        return RELEASES[rid]
    if method.endswith("releases.rollouts.list"):
        parent = params["parent"]
        found = [r for r in ROLLOUTS.values() if parent.endswith("/releases/-") and r["name"].startswith(PIPELINE_NAME + "/")
                 or r["name"].startswith(parent + "/rollouts/")]
        flt = query.get("filter", "")
        if flt.startswith("targetId="):
            found = [r for r in found if r["targetId"] == flt.split("=", 1)[1].strip('"')]
        found.sort(key=lambda r: -r["_seq"])
        start, size = int(query.get("pageToken") or 0), int(query.get("pageSize") or 50)
        answer = {"rollouts": [public(r) for r in found[start:start + size]]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer
    if method.endswith("releases.rollouts.get"):
        return public(rollout_of(params["name"]))
    if method.endswith("releases.rollouts.jobRuns.list"):
        rollout_of(params["parent"])
        return {"jobRuns": JOB_RUNS.get(params["parent"], [])}
    if method.endswith("releases.rollouts.create"):
        must_act(may_act, "clouddeploy.rollouts.create", who)
        rid = params["parent"].rsplit("/", 1)[-1]
        if rid not in RELEASES:
            raise Fault(404, "NOT_FOUND", f"Resource '{params['parent']}' was not found")
        target = body.get("targetId")
        if target not in TARGETS:
            raise Fault(400, "INVALID_ARGUMENT", f"target {target!r} is not in the delivery pipeline")
        r = new_rollout(rid, target, query["rolloutId"])
        return operation(r["name"], "create")
    if method.endswith("deliveryPipelines.rollbackTarget"):
        must_act(may_act, "clouddeploy.rollouts.rollback", who)
        target = body["targetId"]
        current = latest(target)
        if current is None:
            raise Fault(400, "FAILED_PRECONDITION", f"target {target} has no rollout to roll back")
        release = body.get("releaseId")
        if not release:
            done = sorted((r for r in ROLLOUTS.values() if r["targetId"] == target and r["state"] == "SUCCEEDED" and r is not current),
                          key=lambda r: -r["_seq"])
            if not done:
                raise Fault(400, "FAILED_PRECONDITION", f"no earlier successful rollout on target {target}")
            release = done[0]["name"].split("/releases/")[1].split("/")[0]
        r = new_rollout(release, target, body.get("rolloutId") or f"{release}-to-{target}-rollback", rollback_of=current)
        return {"rollbackConfig": {"rollout": public(r), "startingPhaseId": "stable"}}
    if method.rsplit(".", 1)[-1] in ("approve", "advance", "retryJob", "ignoreJob", "cancel") and ".rollouts." in method:
        return act(method, params, body, who, may_act)
    raise Fault(501, "UNIMPLEMENTED", f"{method} is not served by this double")


def act(method, params, body, who, may_act):
    r = rollout_of(params.get("name") or params["rollout"])  # retryJob and ignoreJob name it `rollout`
    verb = method.rsplit(".", 1)[-1]
    must_act(may_act, f"clouddeploy.rollouts.{verb}", who)
    if verb == "approve":
        if r["state"] != "PENDING_APPROVAL" or r.get("approvalState") != "NEEDS_APPROVAL":
            raise Fault(400, "FAILED_PRECONDITION", f"Rollout is not pending approval (its approval state is {r.get('approvalState')})")
        r["approveTime"] = now()
        if body.get("approved"):
            r["approvalState"], r["state"] = "APPROVED", "IN_PROGRESS"
            start_phase(r, r["phases"][0])
        else:
            r["approvalState"], r["state"] = "REJECTED", "APPROVAL_REJECTED"
        touch(r)
        return {}
    if verb == "advance":
        nxt = next((i for i, p in enumerate(r["phases"]) if p["state"] == "PENDING"), None)
        waiting = r["state"] == "IN_PROGRESS" and nxt and r["phases"][nxt - 1]["state"] == "SUCCEEDED" \
            and not any(p["state"] == "IN_PROGRESS" for p in r["phases"])
        if not waiting or r["phases"][nxt]["id"] != body.get("phaseId"):
            expected = r["phases"][nxt]["id"] if waiting else "none"
            raise Fault(400, "FAILED_PRECONDITION", f"cannot advance to phase {body.get('phaseId')}: the next phase to advance to is {expected}")
        start_phase(r, r["phases"][nxt])
        touch(r)
        return {}
    if verb in ("retryJob", "ignoreJob"):
        phase = next((p for p in r["phases"] if p["id"] == body.get("phaseId")), None)
        job = next((j for j in jobs(phase) if j["id"] == body.get("jobId")), None) if phase else None
        if r["state"] != "FAILED" or job is None or job["state"] != "FAILED":
            raise Fault(400, "FAILED_PRECONDITION", f"job {body.get('jobId')} of phase {body.get('phaseId')} has not failed")
        r.pop("failureReason", None)
        r.pop("deployFailureCause", None)
        r["state"], phase["state"] = "IN_PROGRESS", "IN_PROGRESS"
        if verb == "retryJob":
            start_job(r, phase, job)
        else:
            job["state"] = "IGNORED"
            go_on(r, r["phases"].index(phase), phase)
        touch(r)
        return {}
    if verb == "cancel":
        if r["state"] not in ("IN_PROGRESS", "PENDING_APPROVAL", "PENDING"):
            raise Fault(400, "FAILED_PRECONDITION", f"Rollout cannot be cancelled in state {r['state']}")
        for p in r["phases"]:
            if p["state"] in ("IN_PROGRESS", "PENDING"):
                p["state"] = "ABORTED"
                for j in jobs(p):
                    if j["state"] in ("IN_PROGRESS", "PENDING"):
                        j["state"] = "ABORTED"
        r["state"] = "CANCELLED"
        touch(r)
        return {}
    raise Fault(501, "UNIMPLEMENTED", f"{method} is not served by this double")


def control(what, args):
    if what == "deploy/job":
        r = latest(args["target"])
        if r is None or not finish_job(r, args["outcome"], args.get("message", "")):
            return {"error": "no job is under way"}
        return public(r)
    if what == "deploy/rollout":
        r = latest(args["target"])
        return public(r) if r else {}
    return None
