"""Google's official Cloud Build client (google-cloud-build, REST transport) and google-auth's
service-account credentials, pointed at the double: a real client drives what flightdeck reads.

Usage: gcp_client.py PORT KEYFILE COMMAND ARGS… — prints JSON.
  run TRIGGER_ID [BRANCH]       start a trigger; the new build
  get BUILD_ID                  a build
  approve BUILD_ID APPROVED|REJECTED COMMENT
  list [FILTER]                 builds of the region
"""

import json
import sys

from google.cloud.devtools import cloudbuild_v1
from google.protobuf.json_format import MessageToDict

from google_client import connect, out

port, keyfile, command, *args = sys.argv[1:]
PARENT = "projects/payments-prod/locations/us-central1"
client = connect(cloudbuild_v1.CloudBuildClient, port, keyfile)


if command == "run":
    source = cloudbuild_v1.RepoSource(branch_name=args[1]) if len(args) > 1 else None
    operation = client.run_build_trigger(request={"name": f"{PARENT}/triggers/{args[0]}", "source": source})
    out(cloudbuild_v1.BuildOperationMetadata.deserialize(operation.operation.metadata.value).build)
elif command == "get":
    out(client.get_build(request={"name": f"{PARENT}/builds/{args[0]}"}))
elif command == "approve":
    decision = cloudbuild_v1.ApprovalResult.Decision[args[1]]
    operation = client.approve_build(request={"name": f"{PARENT}/builds/{args[0]}",
                                              "approval_result": {"decision": decision, "comment": args[2]}})
    out(cloudbuild_v1.BuildOperationMetadata.deserialize(operation.operation.metadata.value).build)
elif command == "list":
    builds = client.list_builds(request={"parent": PARENT, "filter": args[0] if args else ""})
    print(json.dumps([MessageToDict(b._pb) for b in builds]))
else:
    sys.exit(f"unknown command {command}")
