#!/usr/bin/env python3
"""Send test messages with Python's smtplib and report each message's final reply.

Used by dev.sluice.testing.SmtpClients. Prints exactly one line per message:

    MSG <index> <code> <reply text>     final reply for that message (MAIL, RCPT or DATA)
    MSG <index> ERR <description>       no reply (connect failure, disconnect, timeout)

and finally a line "DONE <messages>". Exit status 0 unless the arguments are wrong.
"""

import argparse
import email.policy
import smtplib
import socket
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def one_line(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split())


def build_message(args, index):
    msg = EmailMessage()
    msg["From"] = args.sender
    msg["To"] = args.rcpt
    msg["Subject"] = "sluice smtplib test %d" % index
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="smtplib.sluice.test")
    msg.set_content("Test message %d from smtplib_send.py.\n" % index)
    # policy.SMTP: CRLF line endings, as RFC 5321 requires (the default policy uses bare LF).
    return msg.as_bytes(policy=email.policy.SMTP)


def send_one(conn, args, index):
    """Returns (code, text) of the final reply for one message; code None on a lost session."""
    code, text = conn.mail(args.sender)
    if code >= 400:
        conn.rset()
        return code, text
    code, text = conn.rcpt(args.rcpt)
    if code >= 400:
        conn.rset()
        return code, text
    code, text = conn.data(build_message(args, index))
    return code, text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--source", default=None, help="local (source) IP address")
    p.add_argument("--messages", type=int, default=1)
    p.add_argument("--per-connection", type=int, default=1)
    p.add_argument("--from", dest="sender", default="smtplib@example.test")
    p.add_argument("--to", dest="rcpt", default="user@example.test")
    p.add_argument("--helo", default="smtplib.sluice.test")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    if args.messages < 0 or args.per_connection < 1:
        p.error("--messages must be >= 0 and --per-connection >= 1")

    index = 0
    while index < args.messages:
        batch = min(args.per_connection, args.messages - index)
        conn = None
        try:
            source = (args.source, 0) if args.source else None
            conn = smtplib.SMTP(args.host, args.port, local_hostname=args.helo,
                                timeout=args.timeout, source_address=source)
            conn.ehlo()
        except (OSError, smtplib.SMTPException) as e:
            for _ in range(batch):
                print("MSG %d ERR connect: %s" % (index, one_line(repr(e))), flush=True)
                index += 1
            continue
        sent = 0
        try:
            while sent < batch:
                try:
                    code, text = send_one(conn, args, index)
                    print("MSG %d %d %s" % (index, code, one_line(text)), flush=True)
                    index += 1
                    sent += 1
                    if code == 421:
                        raise smtplib.SMTPServerDisconnected("421 from server")
                except smtplib.SMTPServerDisconnected as e:
                    if sent < batch and "421 from server" not in str(e):
                        print("MSG %d ERR disconnected: %s" % (index, one_line(e)), flush=True)
                        index += 1
                        sent += 1
                    # the rest of this batch goes over a new connection
                    conn = None
                    break
                except smtplib.SMTPResponseException as e:
                    # e.g. SMTPDataError: DATA answered with something other than 354
                    print("MSG %d %d %s" % (index, e.smtp_code, one_line(e.smtp_error)), flush=True)
                    index += 1
                    sent += 1
                    try:
                        conn.rset()
                    except (OSError, smtplib.SMTPException):
                        conn = None
                        break
                except (OSError, smtplib.SMTPException) as e:
                    print("MSG %d ERR %s" % (index, one_line(repr(e))), flush=True)
                    index += 1
                    sent += 1
                    conn = None
                    break
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (OSError, smtplib.SMTPException):
                    pass
    print("DONE %d" % args.messages, flush=True)
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
