"""A real SMTP server for the e-mail notification tests: aiosmtpd, requiring STARTTLS before
anything else, and authentication (PLAIN or LOGIN) only over TLS. Each accepted message is written
to OUTDIR as N.eml with the envelope beside it. Prints the port once it listens.

usage: smtp_server.py CERT KEY USER PASSWORD OUTDIR
"""

import json
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.outdir, str(self.count))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None,
                       "authenticated": bool(session.authenticated)}, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    cert, key, user, password, outdir = sys.argv[1:6]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    # aiosmtpd checks that it listens by connecting to its own port, so it needs the number: take
    # a free one, and another if it is taken before the server binds it.
    for _ in range(20):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        controller = Controller(
            Store(outdir),
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        )
        try:
            controller.start()
            break
        except Exception:
            continue
    else:
        sys.exit("no free port to listen on")
    print(port, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
