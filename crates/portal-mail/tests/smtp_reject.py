"""An aiosmtpd handler that refuses every recipient, for portal-mail's SMTP tests.

Run: PYTHONPATH=crates/portal-mail/tests /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT \
     -c smtp_reject.RejectRecipients
"""


class RejectRecipients:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 no such user"
