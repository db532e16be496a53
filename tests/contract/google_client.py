"""What the scripts that drive the Google double with Google's official clients share: a client
of the given class, REST transport, authenticated with a service-account key by google-auth and
pointed at the double; and a message printed as JSON."""

import json

from google.api_core.client_options import ClientOptions
from google.oauth2 import service_account
from google.protobuf.json_format import MessageToDict


def connect(client_class, port, keyfile):
    credentials = service_account.Credentials.from_service_account_file(keyfile, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return client_class(credentials=credentials, transport="rest", client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{port}"))


def out(message):
    print(json.dumps(MessageToDict(message._pb if hasattr(message, "_pb") else message)))
