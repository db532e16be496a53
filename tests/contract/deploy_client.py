"""Google's official Cloud Deploy client (google-cloud-deploy, REST transport) and google-auth's
service-account credentials, pointed at the double: a real client drives what flightdeck reads.

Usage: deploy_client.py PORT KEYFILE COMMAND ARGS… — prints JSON.
  release ID [RUN]              create a release of payments-api (it rolls out to staging),
                                annotated with the flightdeck run that built it
  rollout TARGET                the latest rollout on a target
  approve TARGET yes|no         approve or reject the latest rollout on a target
  advance TARGET PHASE          advance the latest rollout on a target to PHASE
  promote RELEASE TARGET        create a rollout of a release on a target (as `gcloud deploy releases promote`)
  rollouts                      every rollout of the pipeline
"""

import json
import sys

from google.api_core import exceptions
from google.cloud import deploy_v1
from google.protobuf.json_format import MessageToDict

from google_client import connect, out

port, keyfile, command, *args = sys.argv[1:]
PIPELINE = "projects/payments-prod/locations/us-central1/deliveryPipelines/payments-api"
client = connect(deploy_v1.CloudDeployClient, port, keyfile)


def rollouts():
    return sorted(client.list_rollouts(request={"parent": f"{PIPELINE}/releases/-"}), key=lambda r: r.create_time, reverse=True)


def latest(target):
    return next(r for r in rollouts() if r.target_id == target)


try:
    if command == "release":
        client.create_release(request={"parent": PIPELINE, "release_id": args[0],
                                       "release": {"build_artifacts": [{"image": "payments-api", "tag": f"europe-docker.pkg.dev/payments-prod/apps/payments-api:{args[0]}"}],
                                                   "skaffold_config_uri": "gs://payments-prod-sources/payments-api.tgz",
                                                   "annotations": {"flightdeck-run": args[1]} if len(args) > 1 else {}}})
        out(latest("staging"))
    elif command == "rollout":
        out(client.get_rollout(request={"name": latest(args[0]).name}))
    elif command == "approve":
        client.approve_rollout(request={"name": latest(args[0]).name, "approved": args[1] == "yes"})
        out(client.get_rollout(request={"name": latest(args[0]).name}))
    elif command == "advance":
        client.advance_rollout(request={"name": latest(args[0]).name, "phase_id": args[1]})
        out(client.get_rollout(request={"name": latest(args[0]).name}))
    elif command == "promote":
        client.create_rollout(request={"parent": f"{PIPELINE}/releases/{args[0]}", "rollout_id": f"{args[0]}-to-{args[1]}-0001",
                                       "rollout": {"target_id": args[1]}})
        out(latest(args[1]))
    elif command == "rollouts":
        print(json.dumps([MessageToDict(r._pb) for r in rollouts()]))
    else:
        sys.exit(f"unknown command {command}")
except exceptions.GoogleAPICallError as e:
    print(json.dumps({"error": {"code": e.code, "status": getattr(e.grpc_status_code, "name", None), "message": e.message}}))
