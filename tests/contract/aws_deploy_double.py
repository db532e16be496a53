"""The ECS blue/green half of the AWS double: ECS (services, task sets, ECS's own service
deployments), CodeDeploy (an ECS deployment group's deployments, their lifecycle events and task
sets' traffic), CloudWatch alarms and metrics, with scripted progress. Every request and answer is held to
botocore's models by the double's wire (aws_double.py), which routes here.

World: cluster `payments` with
- `payments-api`, deployed by CodeDeploy blue/green (canary 10 % for 5 minutes, a manual reroute
  that stops after 60 minutes, the original kept 60 minutes, rollback on failure and on alarm);
- `checkout`, ECS's own canary with a PAUSE hook after test traffic, rolled back on alarms;
- `ledger`, a rolling update.
"""

import datetime
import json
import os
import uuid

import awscli
import aws_metrics_double as metrics

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CLUSTER = "payments"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
APP, GROUP = "payments", "payments-api-bg"
CONFIG = "CodeDeployDefault.ECSCanary10Percent5Minutes"
ALARMS = ["payments-api-5xx", "payments-api-p99-latency"]
CHECKOUT_ALARMS = ["checkout-5xx"]
EVENTS = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]
ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
TG_BLUE, TG_GREEN = f"{ELB}:targetgroup/checkout-blue/73e2d6bc24d8a067", f"{ELB}:targetgroup/checkout-green/09a1b2c3d4e5f607"
PROD_RULE = f"{ELB}:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
# payments-api's pair: each deployment's replacement serves from the group its original does not.
PAY_TGS = [f"{ELB}:targetgroup/payments-a/1a2b3c4d5e6f7081", f"{ELB}:targetgroup/payments-b/8f7e6d5c4b3a2910"]
PAY_LISTENER = f"{ELB}:listener/app/payments/6d0ecf831eec9f09/3b2c1d0e9f8a7b6c"


class Fault(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def ts(d):
    return d.timestamp() if d else None


def td(name, rev):
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}:{rev}"


WORLD = {
    "deployments": {},  # CodeDeploy id -> record
    "order": [],
    "task_sets": {"payments-api": [{"id": "ecs-svc/1111", "status": "PRIMARY", "td": td("payments-api", 7), "external": "d-ORIGINAL1", "created": now(), "tg": PAY_TGS[0]}]},
    "service_deployments": [],  # checkout's, newest last
    "checkout_td": [td("checkout", 3)],
    "alarms": {n: {"state": "OK", "reason": "Threshold Crossed: no datapoints were breaching", "updated": now()} for n in ALARMS + CHECKOUT_ALARMS},
}
# The deployment that made the running task set, long finished.
WORLD["deployments"]["d-ORIGINAL1"] = {
    "id": "d-ORIGINAL1", "status": "Succeeded", "events": {e: ("Succeeded", now(), now()) for e in EVENTS}, "weight": 100.0,
    "termination": False, "created": now() - datetime.timedelta(days=2), "completed": now() - datetime.timedelta(days=2),
    "error": None, "rollback": None, "creator": "user", "blue": None, "green": "ecs-svc/1111"}
WORLD["order"].append("d-ORIGINAL1")


def deny(who, action, resource):
    if not who["approve"]:
        raise Fault(400, "AccessDeniedException",
                    f"User: {who['arn']} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows it")


# ---- CodeDeploy ---------------------------------------------------------------------------------


def deployment(p):
    d = WORLD["deployments"].get(p.get("deploymentId"))
    if d is None:
        raise Fault(400, "DeploymentDoesNotExistException", f"The deployment {p.get('deploymentId')} could not be found.")
    return d


def sets_of(d):
    sets = WORLD["task_sets"]["payments-api"]
    return [s for s in sets if s["id"] in (d["blue"], d["green"])]


def info(d):
    out = {"applicationName": APP, "deploymentGroupName": GROUP, "deploymentConfigName": CONFIG, "deploymentId": d["id"],
           "status": d["status"], "createTime": ts(d["created"]), "creator": d["creator"], "computePlatform": "ECS",
           "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
           "instanceTerminationWaitTimeStarted": d["termination"],
           "blueGreenDeploymentConfiguration": {
               "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60},
               "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 60}},
           "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
           "deploymentOverview": {"Pending": 0, "InProgress": 1 if d["status"] in ACTIVE else 0, "Succeeded": 1 if d["status"] == "Succeeded" else 0,
                                  "Failed": 0, "Skipped": 0, "Ready": 1 if d["status"] == "Ready" else 0}}
    if d["completed"]:
        info_time = ts(d["completed"])
        out["completeTime"] = info_time
    if d["error"]:
        out["errorInformation"] = d["error"]
    if d["rollback"]:
        out["rollbackInfo"] = d["rollback"]
    return out


def target(d):
    events = []
    for name in EVENTS:
        status, start, end = d["events"].get(name, ("Pending", None, None))
        e = {"lifecycleEventName": name, "status": status}
        if start:
            e["startTime"] = ts(start)
        if end:
            e["endTime"] = ts(end)
        events.append(e)
    sets = []
    for label, sid in (("BLUE", d["blue"]), ("GREEN", d["green"])):
        s = next((s for s in WORLD["task_sets"]["payments-api"] if s["id"] == sid), None)
        if s is None:
            continue
        weight = d["weight"] if label == "GREEN" else 100.0 - d["weight"]
        sets.append({"identifer": sid, "desiredCount": 3, "pendingCount": 0, "runningCount": 3, "status": s["status"], "trafficWeight": weight,
                     "targetGroup": {"name": f"payments-api-{label.lower()}"}, "taskSetLabel": label})
    return {"deploymentId": d["id"], "targetId": f"{CLUSTER}:payments-api", "targetArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/payments-api",
            "lastUpdatedAt": ts(now()), "lifecycleEvents": events, "status": d["status"] if d["status"] in ("Succeeded", "Failed", "InProgress") else "InProgress",
            "taskSetsInfo": sets}


def set_event(d, name, status):
    _, start, _ = d["events"].get(name, (None, None, None))
    d["events"][name] = (status, start or now(), now() if status in ("Succeeded", "Failed", "Skipped") else None)


def start_codedeploy(creator):
    did = "d-" + uuid.uuid4().hex[:9].upper()
    blue = next(s for s in WORLD["task_sets"]["payments-api"] if s["status"] == "PRIMARY")
    green = {"id": "ecs-svc/" + uuid.uuid4().hex[:16], "status": "ACTIVE", "td": td("payments-api", int(blue["td"].rsplit(":", 1)[1]) + 1),
             "external": did, "created": now(), "tg": PAY_TGS[1 - PAY_TGS.index(blue["tg"])]}
    WORLD["task_sets"]["payments-api"].append(green)
    d = {"id": did, "status": "Ready", "events": {}, "weight": 0.0, "termination": False, "created": now(), "completed": None,
         "error": None, "rollback": None, "creator": "user", "blue": blue["id"], "green": green["id"]}
    for name in EVENTS[:5]:
        set_event(d, name, "Succeeded")
    WORLD["deployments"][did] = d
    WORLD["order"].insert(0, did)
    return d


def finish_codedeploy(d):
    d["status"], d["completed"] = "Succeeded", now()
    sets = WORLD["task_sets"]["payments-api"]
    sets[:] = [s for s in sets if s["id"] != d["blue"]]
    for s in sets:
        if s["id"] == d["green"]:
            s["status"] = "PRIMARY"


def roll_back_codedeploy(d, error, message):
    d["status"], d["completed"], d["weight"], d["termination"] = "Stopped", now(), 0.0, False
    d["error"] = error
    rollback_id = "d-" + uuid.uuid4().hex[:9].upper()
    d["rollback"] = {"rollbackDeploymentId": rollback_id, "rollbackMessage": message}
    for name, (status, start, end) in list(d["events"].items()):
        if status == "InProgress":
            d["events"][name] = ("Failed", start, now())
    sets = WORLD["task_sets"]["payments-api"]
    sets[:] = [s for s in sets if s["id"] != d["green"]]
    rb = {"id": rollback_id, "status": "Succeeded", "events": {e: ("Succeeded", now(), now()) for e in EVENTS}, "weight": 100.0,
          "termination": False, "created": now(), "completed": now(), "error": None,
          "rollback": {"rollbackTriggeringDeploymentId": d["id"], "rollbackMessage": f"Rollback of {d['id']}"},
          "creator": "codeDeployRollback", "blue": None, "green": d["blue"]}
    WORLD["deployments"][rollback_id] = rb
    # A rollback deployment is the group's newest; the stopped one stays what people look at
    # only until then (as in the console's history).
    WORLD["order"].insert(0, rollback_id)


def op_codedeploy(op, p, who):
    if op in ("ListDeployments", "GetDeploymentGroup") and (p.get("applicationName"), p.get("deploymentGroupName")) != (APP, GROUP):
        raise Fault(400, "DeploymentGroupDoesNotExistException", "No Deployment Group found for name: " + str(p.get("deploymentGroupName")))
    if op == "ListDeployments":
        statuses = p.get("includeOnlyStatuses")
        ids = [i for i in WORLD["order"] if not statuses or WORLD["deployments"][i]["status"] in statuses]
        return {"deployments": ids}
    if op == "BatchGetDeployments":
        return {"deploymentsInfo": [info(WORLD["deployments"][i]) for i in p["deploymentIds"] if i in WORLD["deployments"]]}
    if op == "GetDeployment":
        return {"deploymentInfo": info(deployment(p))}
    if op == "ListDeploymentTargets":
        deployment(p)
        return {"targetIds": [f"{CLUSTER}:payments-api"]}
    if op == "BatchGetDeploymentTargets":
        d = deployment(p)
        return {"deploymentTargets": [{"deploymentTargetType": "ECSTarget", "ecsTarget": target(d)}]}
    if op == "GetDeploymentGroup":
        return {"deploymentGroupInfo": {
            "applicationName": APP, "deploymentGroupName": GROUP, "deploymentGroupId": "a1b2c3", "deploymentConfigName": CONFIG,
            "serviceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/codedeploy", "computePlatform": "ECS",
            "alarmConfiguration": {"enabled": True, "ignorePollAlarmFailure": False, "alarms": [{"name": n} for n in ALARMS]},
            "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
            "loadBalancerInfo": {"targetGroupPairInfoList": [{"targetGroups": [{"name": tg.split("/")[-2]} for tg in PAY_TGS],
                                                              "prodTrafficRoute": {"listenerArns": [PAY_LISTENER]}}]},
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "blueGreenDeploymentConfiguration": {
                "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60},
                "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 60}},
            "ecsServices": [{"serviceName": "payments-api", "clusterName": CLUSTER}]}}
    if op == "GetDeploymentConfig":
        if p["deploymentConfigName"] != CONFIG:
            raise Fault(400, "DeploymentConfigDoesNotExistException", "No deployment configuration found for name: " + p["deploymentConfigName"])
        return {"deploymentConfigInfo": {"deploymentConfigId": "cfg-1", "deploymentConfigName": CONFIG, "computePlatform": "ECS",
                                         "trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5}}}}
    if op == "ContinueDeployment":
        d = deployment(p)
        deny(who, "codedeploy:ContinueDeployment", f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{APP}/{GROUP}")
        wait = p.get("deploymentWaitType", "READY_WAIT")
        if d["status"] not in ACTIVE:
            raise Fault(400, "DeploymentAlreadyCompletedException", f"The deployment {d['id']} has already completed.")
        if wait == "READY_WAIT":
            if d["status"] != "Ready":
                raise Fault(400, "DeploymentIsNotInReadyStateException", f"The deployment {d['id']} is not in the Ready state.")
            d["status"] = "InProgress"
            set_event(d, "BeforeAllowTraffic", "Succeeded")
            set_event(d, "AllowTraffic", "InProgress")
            d["weight"] = 10.0
        else:
            if not d["termination"]:
                raise Fault(400, "InvalidDeploymentWaitTypeException", "The wait type is invalid: the deployment is not waiting to terminate the original.")
            finish_codedeploy(d)
        return {}
    if op == "StopDeployment":
        d = deployment(p)
        deny(who, "codedeploy:StopDeployment", f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{APP}/{GROUP}")
        if d["status"] not in ACTIVE:
            raise Fault(400, "DeploymentAlreadyCompletedException", f"The deployment {d['id']} has already completed.")
        if p.get("autoRollbackEnabled"):
            roll_back_codedeploy(d, {"code": "MANUAL_STOP", "message": "The deployment was stopped by the user."},
                                 f"Deployment {d['id']} was stopped by the user and rolled back")
        else:
            d["status"], d["completed"] = "Stopped", now()
        return {"status": "Succeeded", "statusMessage": "The deployment was stopped."}
    raise Fault(400, "UnknownOperationException", op)


# ---- ECS ----------------------------------------------------------------------------------------


def checkout_deployment():
    return WORLD["service_deployments"][-1] if WORLD["service_deployments"] else None


def service_of(name):
    base = {"serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}", "serviceName": name, "clusterArn": CLUSTER_ARN,
            "status": "ACTIVE", "desiredCount": 3, "runningCount": 3, "pendingCount": 0, "launchType": "FARGATE", "createdAt": ts(now())}
    if name == "payments-api":
        sets = WORLD["task_sets"]["payments-api"]
        primary = next(s for s in sets if s["status"] == "PRIMARY")
        base.update({"deploymentController": {"type": "CODE_DEPLOY"}, "taskDefinition": primary["td"], "taskSets": [
            {"id": s["id"], "taskSetArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{CLUSTER}/payments-api/{s['id']}", "serviceArn": base["serviceArn"],
             "clusterArn": CLUSTER_ARN, "startedBy": "CodeDeploy", "externalId": s["external"], "status": s["status"], "taskDefinition": s["td"],
             "computedDesiredCount": 3, "runningCount": 3, "pendingCount": 0, "createdAt": ts(s["created"]), "launchType": "FARGATE",
             "stabilityStatus": "STEADY_STATE", "loadBalancers": [{"targetGroupArn": s["tg"], "containerName": "payments-api", "containerPort": 8080}]}
            for s in sets]})
    elif name == "checkout":
        d = checkout_deployment()
        deployments = [{"id": "ecs-svc/" + ("2" * 16), "status": "PRIMARY", "taskDefinition": WORLD["checkout_td"][-1], "desiredCount": 3,
                        "runningCount": 3, "pendingCount": 0, "createdAt": ts(now()), "rolloutState": "COMPLETED" if not d or d["status"] not in ("IN_PROGRESS", "PENDING") else "IN_PROGRESS"}]
        if d and d["status"] in ("IN_PROGRESS", "PENDING") and len(WORLD["checkout_td"]) > 1:
            deployments.append({"id": "ecs-svc/" + ("3" * 16), "status": "ACTIVE", "taskDefinition": WORLD["checkout_td"][-2], "desiredCount": 3,
                                "runningCount": 3, "pendingCount": 0, "createdAt": ts(now()), "rolloutState": "COMPLETED"})
        base.update({"deploymentController": {"type": "ECS"}, "taskDefinition": WORLD["checkout_td"][-1], "deployments": deployments,
                     "deploymentConfiguration": checkout_config(),
                     "loadBalancers": [{"targetGroupArn": TG_BLUE, "containerName": "checkout", "containerPort": 8080,
                                        "advancedConfiguration": {"alternateTargetGroupArn": TG_GREEN, "productionListenerRule": PROD_RULE,
                                                                  "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ecs-infrastructure"}}]})
    else:
        base.update({"deploymentController": {"type": "ECS"}, "taskDefinition": td(name, 12),
                     "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "ROLLING"}})
    return base


def checkout_config():
    return {"strategy": "CANARY", "bakeTimeInMinutes": 15, "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5},
            "alarms": {"alarmNames": CHECKOUT_ALARMS, "enable": True, "rollback": True},
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]}


def service_deployment_out(d):
    arn = d["arn"]
    out = {"serviceDeploymentArn": arn, "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/checkout", "clusterArn": CLUSTER_ARN,
           "createdAt": ts(d["created"]), "startedAt": ts(d["created"]), "updatedAt": ts(d["updated"]), "status": d["status"],
           "lifecycleStage": d["stage"], "deploymentConfiguration": checkout_config(),
           "sourceServiceRevisions": [{"arn": arn.replace("service-deployment", "service-revision") + "-src", "requestedTaskCount": 3, "runningTaskCount": 3,
                                       "pendingTaskCount": 0, "requestedProductionTrafficWeight": 100.0 - d["weight"]}],
           "targetServiceRevision": {"arn": arn.replace("service-deployment", "service-revision"), "requestedTaskCount": 3, "runningTaskCount": 3,
                                     "pendingTaskCount": 0, "requestedProductionTrafficWeight": d["weight"]},
           "alarms": {"status": "TRIGGERED" if d["triggered"] else "MONITORING", "alarmNames": CHECKOUT_ALARMS, "triggeredAlarmNames": d["triggered"]},
           "lifecycleHookDetails": d["hooks"]}
    if d.get("reason"):
        out["statusReason"] = d["reason"]
    if d.get("rollback"):
        out["rollback"] = d["rollback"]
    if d.get("finished"):
        out["finishedAt"] = ts(d["finished"])
    return out


def find_service_deployment(arn):
    d = next((d for d in WORLD["service_deployments"] if d["arn"] == arn), None)
    if d is None:
        raise Fault(400, "ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")
    return d


def roll_back_checkout(d, reason):
    d["status"], d["weight"], d["finished"], d["updated"] = "ROLLBACK_SUCCESSFUL", 0.0, now(), now()
    d["rollback"] = {"reason": reason, "startedAt": ts(now()), "serviceRevisionArn": d["arn"].replace("service-deployment", "service-revision") + "-src"}
    d["hooks"] = [dict(h, status="FAILED") if h["status"] == "AWAITING_ACTION" else h for h in d["hooks"]]
    WORLD["checkout_td"].pop()


def op_ecs(op, p, who):
    if op == "DescribeServices":
        if p.get("cluster", "default") not in (CLUSTER, CLUSTER_ARN):
            raise Fault(400, "ClusterNotFoundException", "Cluster not found.")
        found, failures = [], []
        for name in p["services"]:
            short = name.rsplit("/", 1)[-1]
            if short in ("payments-api", "checkout", "ledger"):
                found.append(service_of(short))
            else:
                failures.append({"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{short}", "reason": "MISSING"})
        return {"services": found, "failures": failures}
    if op == "ListServiceDeployments":
        if p["service"].rsplit("/", 1)[-1] != "checkout":
            return {"serviceDeployments": []}
        return {"serviceDeployments": [{"serviceDeploymentArn": d["arn"], "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/checkout",
                                        "clusterArn": CLUSTER_ARN, "createdAt": ts(d["created"]), "startedAt": ts(d["created"]), "status": d["status"],
                                        "targetServiceRevisionArn": d["arn"].replace("service-deployment", "service-revision")}
                                       for d in reversed(WORLD["service_deployments"])]}
    if op == "DescribeServiceDeployments":
        found = [d for d in WORLD["service_deployments"] if d["arn"] in p["serviceDeploymentArns"]]
        return {"serviceDeployments": [service_deployment_out(d) for d in found], "failures": []}
    if op == "ContinueServiceDeployment":
        d = find_service_deployment(p["serviceDeploymentArn"])
        deny(who, "ecs:ContinueServiceDeployment", d["arn"])
        hook = next((h for h in d["hooks"] if h["hookId"] == p["hookId"]), None)
        if hook is None or hook["status"] != "AWAITING_ACTION":
            raise Fault(400, "InvalidParameterException", "The lifecycle hook is not awaiting an action.")
        if p.get("action", "CONTINUE") == "ROLLBACK":
            roll_back_checkout(d, "rolled back at a lifecycle hook")
        else:
            hook["status"] = "SUCCEEDED"
            d["stage"], d["weight"], d["updated"] = "PRODUCTION_TRAFFIC_SHIFT", 10.0, now()
        return {"serviceDeploymentArn": d["arn"]}
    if op == "StopServiceDeployment":
        d = find_service_deployment(p["serviceDeploymentArn"])
        deny(who, "ecs:StopServiceDeployment", d["arn"])
        if d["status"] not in ("IN_PROGRESS", "PENDING"):
            raise Fault(400, "ConflictException", "The service deployment is not in progress.")
        roll_back_checkout(d, "the deployment was stopped by the user and rolled back")
        return {"serviceDeploymentArn": d["arn"]}
    raise Fault(400, "UnknownOperationException", op)


# ---- CloudWatch ---------------------------------------------------------------------------------


def op_cloudwatch(op, p, who):
    if op in metrics.OPERATIONS:
        return metrics.OPERATIONS[op](p)
    if op == "DescribeAlarms":
        names = p.get("AlarmNames") or list(WORLD["alarms"])
        out = []
        for n in names:
            a = WORLD["alarms"].get(n)
            if a is None:
                continue
            out.append({"AlarmName": n, "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{n}", "StateValue": a["state"],
                        "StateReason": a["reason"], "StateUpdatedTimestamp": ts(a["updated"]), "ActionsEnabled": True,
                        "MetricName": "HTTPCode_Target_5XX_Count" if "5xx" in n else "TargetResponseTime", "Namespace": "AWS/ApplicationELB",
                        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold"})
        return {"MetricAlarms": out, "CompositeAlarms": []}
    raise Fault(400, "UnknownOperationException", op)


# ---- ECR ----------------------------------------------------------------------------------------


def published_example():
    """The answer the AWS CLI's own documentation gives for describe-image-scan-findings (a basic
    scan of an Ubuntu image), read from the pinned awscli package rather than written here."""
    path = os.path.join(os.path.dirname(awscli.__file__), "examples", "ecr", "describe-image-scan-findings.rst")
    text = open(path).read().split("Output::", 1)[1]
    start = text.index("{")
    depth = 0
    for i, c in enumerate(text[start:], start):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth == 0:
            return json.loads(text[start:i + 1])
    raise AssertionError("no JSON in the published example")


def op_ecr(op, p, who):
    if op == "DescribeImageScanFindings":
        image = p["imageId"].get("imageTag") or p["imageId"].get("imageDigest")
        scan = WORLD.setdefault("scans", {}).get((p["repositoryName"], image))
        if scan is None:
            raise Fault(400, "ScanNotFoundException", f"Image scan does not exist for the image with '{{imageTag:{image}}}' in the repository with name '{p['repositoryName']}' in the registry with id '{ACCOUNT}'")
        out = json.loads(json.dumps(scan))
        out["repositoryName"], out["imageId"] = p["repositoryName"], p["imageId"]
        return out
    raise Fault(400, "UnknownOperationException", op)


def scan(args):
    """A scan of `repository:tag`: the published example, an enhanced finding, or still running."""
    if args.get("status", "COMPLETE") != "COMPLETE":
        out = {"registryId": ACCOUNT, "imageScanStatus": {"status": args["status"], "description": "The scan is in progress."}}
    else:
        out = published_example()
        if args.get("enhanced"):
            out["imageScanFindings"]["enhancedFindings"] = [{
                "awsAccountId": ACCOUNT, "description": "A heap overflow in libcurl's SOCKS5 proxy handshake.",
                "findingArn": f"arn:aws:inspector2:{REGION}:{ACCOUNT}:finding/{uuid.uuid4().hex}", "firstObservedAt": ts(now()),
                "lastObservedAt": ts(now()), "packageVulnerabilityDetails": {
                    "cvss": [{"baseScore": 9.8, "scoringVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "source": "NVD", "version": "3.1"}],
                    "referenceUrls": ["https://curl.se/docs/CVE-2023-38545.html"], "source": "NVD", "sourceUrl": "https://nvd.nist.gov/vuln/detail/CVE-2023-38545",
                    "vulnerabilityId": "CVE-2023-38545",
                    "vulnerablePackages": [{"name": "curl", "version": "7.88.1", "fixedInVersion": "8.4.0", "packageManager": "OS", "epoch": 0, "release": "10"}]},
                "remediation": {"recommendation": {"text": "Upgrade curl to 8.4.0"}}, "score": 9.8, "severity": "HIGH", "status": "ACTIVE",
                "title": "CVE-2023-38545 - curl", "type": "PACKAGE_VULNERABILITY", "fixAvailable": "YES", "exploitAvailable": "NO"}]
    WORLD.setdefault("scans", {})[(args["repository"], args["tag"])] = out


# ---- ELBv2 (query protocol) --------------------------------------------------------------------


def describe_rules(params):
    """The production rule's forward weights: the live deployment's share on green."""
    arns = [v for k, v in sorted(params.items()) if k.startswith("RuleArns.member.")]
    if arns != [PROD_RULE]:
        raise Fault(400, "RuleNotFound", "One or more rules not found")
    d = checkout_deployment()
    green = int(d["weight"]) if d and d["status"] in ("IN_PROGRESS", "PENDING") else 0
    return (f'<DescribeRulesResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeRulesResult><Rules><member>'
            f'<RuleArn>{PROD_RULE}</RuleArn><Priority>10</Priority><IsDefault>false</IsDefault>'
            f'<Conditions><member><Field>path-pattern</Field><Values><member>/checkout/*</member></Values></member></Conditions>'
            f'<Actions><member><Type>forward</Type><Order>1</Order><ForwardConfig><TargetGroups>'
            f'<member><TargetGroupArn>{TG_BLUE}</TargetGroupArn><Weight>{100 - green}</Weight></member>'
            f'<member><TargetGroupArn>{TG_GREEN}</TargetGroupArn><Weight>{green}</Weight></member>'
            f'</TargetGroups></ForwardConfig></member></Actions></member></Rules></DescribeRulesResult>'
            f'<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></DescribeRulesResponse>')


QUERY_HANDLERS = {"DescribeRules": describe_rules}

HANDLERS = {"codedeploy": op_codedeploy, "ecs": op_ecs, "cloudwatch": op_cloudwatch, "ecr": op_ecr}

# ---- scripted progress (/_control/ecs/...) -------------------------------------------------------


def control(what, args):
    service = args.get("service", "payments-api")
    if what == "deploy":
        if service == "payments-api":
            return {"id": start_codedeploy(args.get("creator", "user"))["id"]}
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/checkout/{uuid.uuid4().hex[:20]}"
        WORLD["checkout_td"].append(td("checkout", int(WORLD["checkout_td"][-1].rsplit(":", 1)[1]) + 1))
        WORLD["service_deployments"].append({
            "arn": arn, "status": "IN_PROGRESS", "stage": "POST_TEST_TRAFFIC_SHIFT", "weight": 0.0, "created": now(), "updated": now(),
            "triggered": [], "hooks": [{"hookId": "hook-" + uuid.uuid4().hex[:8], "targetType": "PAUSE", "status": "AWAITING_ACTION",
                                        "expiresAt": ts(now() + datetime.timedelta(hours=1)), "timeoutAction": "ROLLBACK"}]})
        return {"id": arn}
    if what == "advance":
        if service == "payments-api":
            d = WORLD["deployments"][next(i for i in WORLD["order"] if WORLD["deployments"][i]["status"] in ACTIVE)]
            if d["termination"]:
                finish_codedeploy(d)
            else:
                d["weight"] = 100.0
                set_event(d, "AllowTraffic", "Succeeded")
                set_event(d, "AfterAllowTraffic", "Succeeded")
                d["termination"] = True
            return {"status": d["status"]}
        d = checkout_deployment()
        if d["stage"] == "PRODUCTION_TRAFFIC_SHIFT" and d["weight"] < 100:
            d["weight"] = 100.0
        elif d["stage"] == "PRODUCTION_TRAFFIC_SHIFT":
            d["stage"] = "BAKE_TIME"
        else:
            d["status"], d["stage"], d["finished"] = "SUCCESSFUL", "CLEAN_UP", now()
        d["updated"] = now()
        return {"status": d["status"]}
    if what == "metrics":
        metrics.record(args)
        return {}
    if what == "scan":
        scan(args)
        return {}
    if what == "alarm":
        a = WORLD["alarms"][args["name"]]
        a["state"], a["reason"], a["updated"] = args["state"], args.get("reason", "Threshold Crossed"), now()
        if args["state"] == "ALARM" and args["name"] in ALARMS:
            for d in WORLD["deployments"].values():
                if d["status"] in ACTIVE:
                    roll_back_codedeploy(d, {"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated according to the Amazon CloudWatch "
                                                                                 f"metrics you selected, and the affected deployments have been stopped. Activated alarms: <{args['name']}>"},
                                         f"Deployment {d['id']} was stopped on alarm and rolled back")
        if args["state"] == "ALARM" and args["name"] in CHECKOUT_ALARMS:
            d = checkout_deployment()
            if d and d["status"] in ("IN_PROGRESS", "PENDING"):
                d["triggered"] = [args["name"]]
                roll_back_checkout(d, f"alarm {args['name']} went into ALARM")
        return {}
    return None
