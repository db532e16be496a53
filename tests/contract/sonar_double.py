"""A SonarQube Web API double: `api/ce/task` and `api/qualitygates/project_status`, answering in
the shape of SonarQube's documented examples (tests/contract/sonarqube/*-example.json), with
scripted progress. Prints its port on the first line once it listens.

Usage: sonar_double.py TOKEN SCRIPT.json
SCRIPT: {"tasks": {TASK_ID: {"polls_pending": N, "status": "SUCCESS"|"FAILED", "analysis": ID,
          "error": MSG}}, "gates": {ANALYSIS_ID: {"status": "OK"|"ERROR", "conditions": [...]}},
          "hang": false}
Every request must carry the token as a basic-auth user name with an empty password (as SonarQube
takes it); others get 401 with SonarQube's error body. GET /_requests lists what was asked."""
import base64
import copy
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
TASK_EXAMPLE = json.load(open(os.path.join(HERE, "sonarqube", "task-example.json")))
STATUS_EXAMPLE = json.load(open(os.path.join(HERE, "sonarqube", "project_status-example.json")))

TOKEN = sys.argv[1]
SCRIPT = json.load(open(sys.argv[2]))
LOCK = threading.Lock()
POLLS = {}
REQUESTS = []


def task_answer(task_id, script):
    with LOCK:
        POLLS[task_id] = POLLS.get(task_id, 0) + 1
        polls = POLLS[task_id]
    task = copy.deepcopy(TASK_EXAMPLE["task"])
    task["id"] = task_id
    if polls <= script.get("polls_pending", 0):
        task["status"] = "IN_PROGRESS" if polls > 1 else "PENDING"
        del task["analysisId"], task["executedAt"], task["executionTimeMs"]
    else:
        task["status"] = script.get("status", "SUCCESS")
        task["analysisId"] = script.get("analysis", task["analysisId"])
        if task["status"] == "FAILED":
            task["errorMessage"] = script.get("error", "analysis failed")
    return {"task": task}


def status_answer(gate):
    answer = copy.deepcopy(STATUS_EXAMPLE)
    answer["projectStatus"]["status"] = gate["status"]
    answer["projectStatus"]["conditions"] = gate.get("conditions", [])
    return answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/_requests":
            with LOCK:
                return self.send(200, REQUESTS)
        auth = self.headers.get("Authorization", "")
        with LOCK:
            REQUESTS.append({"path": url.path, "query": query, "authorization": auth})
        if SCRIPT.get("hang"):
            time.sleep(3600)
        expected = "Basic " + base64.b64encode((TOKEN + ":").encode()).decode()
        if auth != expected:
            return self.send(401, {"errors": [{"msg": "Authentication is required"}]})
        if url.path == "/api/ce/task":
            script = SCRIPT["tasks"].get(query.get("id", ""))
            if script is None:
                return self.send(404, {"errors": [{"msg": "No activity found for task '%s'" % query.get("id")}]})
            return self.send(200, task_answer(query["id"], script))
        if url.path == "/api/qualitygates/project_status":
            gate = SCRIPT["gates"].get(query.get("analysisId", ""))
            if gate is None:
                return self.send(404, {"errors": [{"msg": "Analysis with id '%s' is not found" % query.get("analysisId")}]})
            return self.send(200, status_answer(gate))
        return self.send(404, {"errors": [{"msg": "Unknown url : %s" % url.path}]})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
