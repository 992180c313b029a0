"""The SMTP sink of portal-testkit: aiosmtpd on loopback, storing every accepted message in a
Maildir. Started by `portal_testkit::SmtpSink` (the script is compiled into the crate and run
with `/usr/bin/python3 -c`), one process per test.

Options: --port PORT --maildir DIR [--reject-recipients] [--auth LOGIN PASSWORD]
         [--starttls CERT KEY | --smtps CERT KEY]
"""

import argparse
import ssl
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class RejectRecipients:
    """Refuses every recipient, as a server does for an unknown mailbox."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 no such user"


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject-recipients", action="store_true")
    parser.add_argument("--auth", nargs=2, metavar=("LOGIN", "PASSWORD"))
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    tls.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()

    handler = RejectRecipients() if args.reject_recipients else Mailbox(args.maildir)
    smtp = {}
    if args.auth:
        login, password = args.auth

        def check(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == login.encode()
                and auth_data.password == password.encode()
            )
            return AuthResult(success=ok)

        # Credentials over plain SMTP are allowed: the sink listens on loopback only.
        smtp.update(authenticator=check, auth_required=True, auth_require_tls=False)
    if args.starttls:
        smtp.update(tls_context=tls_context(*args.starttls), require_starttls=False)
    ssl_context = tls_context(*args.smtps) if args.smtps else None
    controller = Controller(handler, hostname="127.0.0.1", port=args.port, ssl_context=ssl_context, **smtp)
    controller.start()
    while True:
        time.sleep(3600)


main()
