#!/usr/bin/env python3
"""Helpers of bench/soak (run by it; not meant to be run by hand).

  soak.py altdirs add|remove DIR      add/remove DIR in the default Postfix instance's
                                      alternate_config_directories (under the same fcntl lock
                                      as dev.sluice.lab.PostfixInstance)
  soak.py clients ...                 the concurrent smtplib clients, half of them pipelining
                                      (see clients())
  soak.py analyze ...                 count deliveries in the Maildirs against the client log
  soak.py record RESULTS SECTIONFILE  put a run into bench/RESULTS.md between the soak markers
"""
import argparse
import fcntl
import json
import os
import random
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time

ALT_LOCK = "/etc/postfix/.sluice-testing.lock"
MAIN_CF = "/etc/postfix/main.cf"


# --------------------------------------------------------------------------- altdirs

def altdirs(action, directory):
    os.makedirs("/etc/postfix", exist_ok=True)
    with open(ALT_LOCK, "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)  # fcntl lock: the one Java's FileChannel.lock() takes
        if not os.path.exists(MAIN_CF):
            with open(MAIN_CF, "w") as f:
                f.write("# Minimal main.cf created by bench/soak\ncompatibility_level = 3.6\n"
                        "inet_interfaces = loopback-only\n")
        cur = subprocess.run(["postconf", "-h", "alternate_config_directories"], check=True,
                             capture_output=True, text=True).stdout.split()
        dirs = [d.rstrip(",") for d in cur if d.rstrip(",")]
        # drop our own stale entries (directories gone) and the one being changed
        dirs = [d for d in dirs if d != directory
                and not ("/sluice-postfix-soak-" in d and not os.path.isdir(d))]
        if action == "add":
            dirs.append(directory)
        if dirs:
            subprocess.run(["postconf", "-e", "alternate_config_directories = " + " ".join(dirs)], check=True)
        else:
            subprocess.run(["postconf", "-X", "alternate_config_directories"], check=True)
        past = time.time() - 10  # Postfix re-reads a config file modified within the last second
        os.utime(MAIN_CF, (past, past))


# --------------------------------------------------------------------------- clients

class Counters:
    def __init__(self, total):
        self.lock = threading.Lock()
        self.next = 0
        self.total = total
        self.counts = {"accepted": 0, "deferred": 0, "rejected": 0, "error": 0}
        self.connect_failures = 0

    def take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1


def clients(a):
    """a.clients threads share a.messages messages; each connection sends up to a.per_connection.

    Every message is attempted exactly once (never retried: a retry of a message whose first
    attempt got no reply but was accepted would be a legitimate duplicate and blur the count).
    Each attempt's final outcome is one line of the log: msgid, category, code, text.
    """
    ctr = Counters(a.messages)
    log = open(a.log, "w", buffering=1)
    log_lock = threading.Lock()
    stop = threading.Event()
    body_rng = random.Random(42)
    filler_words = [("".join(body_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(body_rng.randint(2, 9))))
                    for _ in range(500)]

    def record_line(msgid, category, code, text):
        with log_lock:
            ctr.counts[category] += 1
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            log.write("%s\t%s\t%s\t%s\n" % (msgid, category, code, " ".join(str(text).split())[:200]))

    def body(i, msgid, rng):
        words = []
        n = 0
        while n < a.size:
            w = rng.choice(filler_words)
            words.append(w)
            n += len(w) + 1
        lines, line = [], ""
        for w in words:
            if len(line) + len(w) > 72:
                lines.append(line)
                line = ""
            line += w + " "
        lines.append(line)
        return ("From: soak%d@client.soak.test\r\nTo: user@example.test\r\nSubject: soak %d\r\n"
                "Message-ID: %s\r\nDate: %s\r\n\r\n" % (i % 97, i, msgid,
                time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
                + "\r\n".join(lines) + "\r\n")

    def connect(source):
        """Connects (retrying while Sluice restarts); None once the run is over."""
        delay = 0.1
        deadline = time.time() + a.connect_patience
        while time.time() < deadline and not stop.is_set():
            try:
                s = smtplib.SMTP(a.host, a.port, local_hostname="client.soak.test", timeout=a.timeout,
                                 source_address=(source, 0))
                code, _ = s.ehlo()
                if code == 250:
                    return s
                s.close()
            except (OSError, smtplib.SMTPException):
                pass
            with ctr.lock:
                ctr.connect_failures += 1
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return None

    def one_at_a_time(s, sender, recipient, data):
        """One transaction, each command after the reply to the one before. Returns (stage, code,
        text) of the first refusal, or of the end of data; data() gives the message."""
        code, text = s.mail(sender)
        if code != 250:
            return "MAIL", code, text
        code, text = s.rcpt(recipient)
        if code not in (250, 251):
            return "RCPT", code, text
        try:
            return ("end of data", *s.data(data()))
        except smtplib.SMTPDataError as e:  # DATA not answered 354
            return "DATA", e.smtp_code, e.smtp_error

    def pipelined(s, sender, recipient, data):
        """One transaction as MTAs send it (RFC 2920): MAIL, RCPT and DATA in one write, then the
        replies, then the body. Returns what one_at_a_time() does."""
        s.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, recipient))
        replies = [("MAIL", *s.getreply()), ("RCPT", *s.getreply()), ("DATA", *s.getreply())]
        refused = [r for r in replies[:2] if r[1] not in (250, 251)]
        if replies[2][1] != 354:
            return refused[0] if refused else replies[2]
        if refused:
            # Sluice must never start a body without an accepted recipient (RFC 2920 §3.1).
            raise smtplib.SMTPResponseException(replies[2][1], b"354 after a refused " + refused[0][0].encode())
        quoted = smtplib.quotedata(data().decode("ascii"))
        s.send(quoted + ("" if quoted.endswith("\r\n") else "\r\n") + ".\r\n")
        return ("end of data", *s.getreply())

    def worker(n):
        rng = random.Random(n)
        pipelining = n % 2 == 1  # half the clients pipeline, as MTAs do; smtplib alone does not
        outcome_count = [0]  # outcomes this worker recorded
        def record(msgid, category, code, text):
            outcome_count[0] += 1
            record_line(msgid, category, code, text)
        source = "127.0.%d.%d" % (1 + n // 250, 10 + n % 240)
        i = ctr.take()
        while i is not None and not stop.is_set():
            s = connect(source)
            if s is None:
                print("client %d: cannot connect for %d s; giving up" % (n, a.connect_patience), file=sys.stderr)
                stop.set()
                return
            sent_here = 0
            try:
                while i is not None and sent_here < a.per_connection:
                    msgid = "<soak-%s-%d@client.soak.test>" % (a.run_id, i)
                    sent_here += 1
                    current, i = i, None
                    done_before = outcome_count[0]
                    try:
                        transaction = pipelined if pipelining else one_at_a_time
                        stage, code, text = transaction(s, "sender%d@client.soak.test" % (current % 97),
                                                        "user%d@example.test" % (current % 13),
                                                        lambda: body(current, msgid, rng).encode("ascii"))
                        if 200 <= code < 300 and stage == "end of data":
                            record(msgid, "accepted", code, text)
                        else:
                            record(msgid, "deferred" if code < 500 else "rejected", code,
                                   stage.encode() + b": " + text)
                            if code == 421:
                                raise smtplib.SMTPServerDisconnected("421")
                            if stage != "end of data":
                                s.rset()  # a refusal before the body leaves the transaction open
                    except (OSError, smtplib.SMTPException) as e:
                        if outcome_count[0] == done_before:  # no outcome recorded for this message yet
                            record(msgid, "error", "-", "%s: %s" % (type(e).__name__, e))
                        raise
                    i = ctr.take()
                try:
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    pass
            except (OSError, smtplib.SMTPException):
                try:
                    s.close()
                except OSError:
                    pass
                if i is None:
                    i = ctr.take()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(a.clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    last = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        with ctr.lock:
            done = sum(ctr.counts.values())
            snap = dict(ctr.counts)
        with open(a.progress, "w") as f:
            f.write("%d\n" % done)
        if time.time() - last >= a.report_every:
            last = time.time()
            el = time.time() - t0
            print("  %6.0fs  %7d/%d done  %s  %.0f msg/s" % (el, done, a.messages,
                  " ".join("%s=%d" % kv for kv in snap.items()), done / max(el, 0.001)), flush=True)
    el = time.time() - t0
    summary = dict(ctr.counts)
    summary["sent"] = sum(ctr.counts.values())
    summary["elapsed_s"] = round(el, 1)
    summary["connect_retries"] = ctr.connect_failures
    summary["gave_up"] = stop.is_set()
    with open(a.summary, "w") as f:
        json.dump(summary, f)
    with open(a.progress, "w") as f:
        f.write("%d\n" % summary["sent"])
    print("  clients done in %.0f s: %s" % (el, json.dumps(summary)), flush=True)
    return 0


# --------------------------------------------------------------------------- analyze

MSGID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.I | re.M)
QUEUEID = re.compile(rb"^Received: .*?\(Postfix\) with \S+ id (\w+)", re.M | re.S)


def analyze(a):
    client = {}
    with open(a.client_log) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                client[parts[0]] = (parts[1], parts[2], parts[3] if len(parts) > 3 else "")
    acceptances = {}  # msgid -> set of backend/queue id
    files = 0
    unparsed = 0
    per_backend = {}
    for spec in a.maildir:
        name, path = spec.split("=", 1)
        per_backend[name] = 0
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            if not os.path.isdir(d):
                continue
            for fn in os.listdir(d):
                with open(os.path.join(d, fn), "rb") as fh:
                    head = fh.read(4096)
                files += 1
                per_backend[name] += 1
                m, q = MSGID.search(head), QUEUEID.search(head)
                if not m or not q:
                    unparsed += 1
                    continue
                acceptances.setdefault(m.group(1).decode("ascii", "replace"), set()).add(
                    name + "/" + q.group(1).decode("ascii"))
    distinct = sum(len(v) for v in acceptances.values())
    accepted = {k for k, v in client.items() if v[0] == "accepted"}
    duplicates = sorted(k for k, v in acceptances.items() if len(v) > 1)
    lost = sorted(accepted - acceptances.keys())
    unknown = sorted(k for k in acceptances if k not in client)
    without_2xx = sorted(k for k in acceptances if k in client and client[k][0] != "accepted")
    by_category = {}
    for k in without_2xx:
        by_category[client[k][0]] = by_category.get(client[k][0], 0) + 1
    codes = {}
    for cat, code, _ in client.values():
        if cat != "accepted":
            codes["%s %s" % (cat, code)] = codes.get("%s %s" % (cat, code), 0) + 1
    result = {
        "maildir_files": files,
        "unparsed_files": unparsed,
        "per_backend_files": per_backend,
        "distinct_acceptances": distinct,
        "delivered_message_ids": len(acceptances),
        "postfix_redeliveries": files - unparsed - distinct,
        "duplicates": len(duplicates),
        "duplicate_examples": {k: sorted(acceptances[k]) for k in duplicates[:10]},
        "lost": len(lost),
        "lost_examples": [(k,) + client[k] for k in lost[:10]],
        "delivered_without_2xx": len(without_2xx),
        "delivered_without_2xx_by_client_outcome": by_category,
        "delivered_without_2xx_examples": [(k,) + client[k] for k in without_2xx[:5]],
        "unknown_message_ids": len(unknown),
        "non_accepted_by_code": dict(sorted(codes.items(), key=lambda kv: -kv[1])),
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


# --------------------------------------------------------------------------- record

BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
HEADER = ("## Soak (`bench/soak`)\n\n"
          "Runs recorded by `bench/soak` (newest first; the script keeps the last four). See\n"
          "`docs/reliability.md` for what it does and how the figures are counted.\n")


def record(a):
    with open(a.section) as f:
        run = f.read().strip() + "\n"
    text = open(a.results).read() if os.path.exists(a.results) else "# Benchmark results\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        inner, after = rest.split(END, 1)
    else:
        before, inner, after = text.rstrip("\n") + "\n\n", "", "\n"
    runs = ["### " + r for r in re.split(r"(?m)^### ", inner)[1:]]
    runs = [run] + [r.strip() + "\n" for r in runs][:3]
    new_inner = "\n" + HEADER + "\n" + "\n".join(runs)
    with open(a.results, "w") as f:
        f.write(before + BEGIN + new_inner + END + after)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("altdirs")
    s.add_argument("action", choices=["add", "remove"])
    s.add_argument("directory")
    s = sub.add_parser("clients")
    for opt, typ, default in [("--host", str, "127.0.0.1"), ("--port", int, None), ("--messages", int, 10000),
                              ("--clients", int, 20), ("--per-connection", int, 10), ("--size", int, 1024),
                              ("--timeout", float, 60), ("--connect-patience", int, 180),
                              ("--report-every", int, 10), ("--run-id", str, "x"), ("--log", str, None),
                              ("--summary", str, None), ("--progress", str, None)]:
        s.add_argument(opt, type=typ, default=default)
    s = sub.add_parser("analyze")
    s.add_argument("--client-log", required=True)
    s.add_argument("--maildir", action="append", required=True, help="NAME=PATH")
    s.add_argument("--out", required=True)
    s = sub.add_parser("record")
    s.add_argument("results")
    s.add_argument("section")
    a = p.parse_args()
    if a.cmd == "altdirs":
        return altdirs(a.action, a.directory)
    if a.cmd == "clients":
        return clients(a)
    if a.cmd == "analyze":
        return analyze(a)
    return record(a)


if __name__ == "__main__":
    sys.exit(main())
