#!/usr/bin/env python3
"""Postfix maillog generator for bench/report-bench --postfix.

Usage: report-bench-postfix.py OUT_DIR LINES [FILES_PER_HOST]

Writes OUT_DIR/logs/mx1/mail.log, mail.log.1, mail.log.2.gz ... and the same for mx2: two hosts'
logs, each rotated daily at 06:25 (logrotate's cron.daily) into FILES_PER_HOST files (default 5),
about LINES lines in all, classic syslog timestamps in November 2026, file mtimes set to each
file's last line (the parser takes the year from them). Also OUT_DIR/truth.json: what `sluice
report` should find, counted from the lines actually written.

Traffic shape: source NAT (about 90% of sessions from lb1.example.net[10.1.1.12], the rest from
a few relays and outside hosts), a diurnal rate, 1-5 messages per session and 1-3 recipients
per message, delivered by smtp to a smarthost or by lmtp to Dovecot; 2% of messages are deferred
(connect timeout) and retried with Postfix's backoff (300 s doubling, capped at 4000 s) until they
go through 1-20 hours later, mostly in a later file; NOQUEUE rejects (452 4.3.1 at MAIL, 550 5.1.1
and 554 5.7.1 at RCPT) with a 40-minute "queue file system full" episode on mx2; clients that
leave during DATA; local pickup submissions (queue ids no smtpd opened); anvil statistics.
Because lines are written in time order and cut at rotation times, messages in flight at 06:25
span two files.
"""
import datetime
import gzip
import json
import math
import os
import random
import sys

out, total = sys.argv[1], int(sys.argv[2])
nfiles = int(sys.argv[3]) if len(sys.argv) > 3 else 5
random.seed(7)
HOSTS = ("mx1", "mx2")
EPOCH = datetime.datetime(2026, 11, 28, 6, 25, 0, tzinfo=datetime.timezone.utc).timestamp()
ROTATIONS = [EPOCH - 86400 * k for k in range(nfiles, -1, -1)]  # file i covers [ROT[i], ROT[i+1])
START, END = ROTATIONS[0], ROTATIONS[-1]
LINES_PER_SESSION = 9.6  # measured from this generator; only sets the arrival rate
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_stamp = {}


def stamp(t):
    s = int(t)
    v = _stamp.get(s)
    if v is None:
        d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
        v = f"{MONTHS[d.month - 1]} {d.day:2d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        _stamp[s] = v
    return v


def client():
    r = random.random()
    if r < 0.90:
        return "lb1.example.net", "10.1.1.12"
    if r < 0.97:
        return f"relay{r * 1000 % 11:.0f}.example.org", f"192.168.0.{random.randint(30, 40)}"
    return "unknown", f"203.0.113.{random.randint(1, 254)}"


def generate(host, sessions_wanted):
    """Events (t, n, kind, message, text) of one host, unsorted; kind/message feed the truth."""
    ev = []
    n = 0

    def add(t, kind, msg, text):
        nonlocal n
        n += 1
        ev.append((t, n, kind, msg, text))

    qn = random.randint(0x100000, 0x200000)
    msgn = 0
    span = END - START
    # Diurnal rate: thinning of a Poisson process at the peak rate.
    mean_rate = sessions_wanted / span
    peak = mean_rate * 1.6
    t = START
    sessions = 0
    full_from = START + 3 * 86400 + 7 * 3600 + 35 * 60  # Nov 26 14:00, mx2 only
    arrivals = []
    while True:
        t += random.expovariate(peak)
        if t >= END - 120:
            break
        hour = (t % 86400) / 3600
        if random.random() <= (1 + 0.6 * math.sin((hour - 8) / 24 * 2 * math.pi)) / 1.6:
            arrivals.append((t, 0.0))
    # At each rotation a client is sending a large message (DATA takes 3-8 s): its client= line
    # ends one file, its cleanup, qmgr and delivery lines start the next.
    for rot in ROTATIONS[1:-1]:
        for k in range(3):
            arrivals.append((rot - 1.5 - k * 0.7, random.uniform(3, 8)))
    arrivals.sort()
    for t, data_time in arrivals:
        sessions += 1
        pid = 20000 + (sessions % 150) + 150 * (sessions // 30000)
        smtpd = f"{host} postfix/smtpd[{pid}]: "
        name, ip = client()
        tok = f"{name}[{ip}]"
        add(t, "connect", ip, smtpd + f"connect from {tok}")
        t1 = t + 0.05
        disk_full = host == "mx2" and full_from <= t < full_from + 2400 and random.random() < 0.3
        r = random.random()
        if data_time:
            r = 0.5
        if disk_full or r < 0.01:
            add(t1, "reject431", None, smtpd + f"NOQUEUE: reject: MAIL from {tok}: 452 4.3.1 Insufficient system storage;"
                f" proto=ESMTP helo=<{name}>")
            add(t1 + 0.01, "line", None, smtpd + f"disconnect from {tok} ehlo=1 mail=0/1 quit=1 commands=2/3")
            continue
        if r < 0.025:
            rc = random.choice((f"550 5.1.1 <nobody{random.randint(1, 99)}@example.net>: Recipient address rejected:"
                                " User unknown in local recipient table",
                                "554 5.7.1 <x@elsewhere.example>: Relay access denied"))
            to = rc.split("<")[1].split(">")[0]
            add(t1, "reject", None, smtpd + f"NOQUEUE: reject: RCPT from {tok}: {rc}; from=<app@example.org> to=<{to}>"
                f" proto=ESMTP helo=<{name}>")
            add(t1 + 0.01, "line", None, smtpd + f"disconnect from {tok} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")
            continue
        nmsg = 1 if r < 0.80 else 2 if r < 0.95 else random.randint(3, 5)
        rcpts_total = 0
        for _ in range(nmsg):
            qn += random.randint(1, 40)
            qid = f"{qn:05X}{random.randint(0, 0xFFFFF):05X}"
            msgn += 1
            msg = (host, qid)
            add(t1, "client", msg, smtpd + f"{qid}: client={tok}")
            if random.random() < 0.003 and not data_time:
                # The client leaves during DATA: no queue file, no message.
                add(t1 + 0.2, "line", None, smtpd + f"lost connection after DATA (0 bytes) from {tok}")
                t1 += 0.3
                break
            t1 += data_time + random.randint(800, 120000) / 400000
            add(t1 + 0.02, "msgid", msg, f"{host} postfix/cleanup[{9000 + pid % 7}]: {qid}: message-id=<{msgn}.{qid}@app.example.org>")
            nr = 1 if random.random() < 0.7 else 2 if random.random() < 0.67 else 3
            rcpts_total += nr
            size = random.randint(800, 120000)
            qa = f"{host} postfix/qmgr[901]: {qid}: from=<app@example.org>, size={size}, nrcpt={nr} (queue active)"
            add(t1 + 0.04, "qactive", msg, qa)
            td = t1 + 0.3 + random.random() * 2
            if random.random() < 0.02:
                # Deferred: retried with backoff until it goes through hours later (often in a later file).
                to = f"user{random.randint(1, 500)}@slow.example"
                ok = td + random.uniform(3600, 20 * 3600)
                wait = 300
                td += 30  # each failed attempt waits out the 30 s connect timeout
                while True:
                    if td >= ok:
                        add(td, "send", msg, f"{host} postfix/smtp[{7000 + pid % 11}]: {qid}: to=<{to}>, relay=mx.slow.example[198.51.100.20]:25,"
                            f" delay={td - t1:.0f}, delays={td - t1 - 1:.0f}/0.01/0.3/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7F{qid[:6]})")
                        add(td + 0.01, "line", None, f"{host} postfix/qmgr[901]: {qid}: removed")
                        break
                    add(td, "defer", msg, f"{host} postfix/smtp[{7000 + pid % 11}]: {qid}: to=<{to}>, relay=none, delay={td - t1:.0f},"
                        f" delays={max(td - t1 - 30, 0):.0f}/0.01/30/0, dsn=4.4.1, status=deferred (connect to mx.slow.example[198.51.100.20]:25: Connection timed out)")
                    td += wait + random.uniform(0, 60)
                    wait = min(wait * 2, 4000)
                    add(td, "qactive", msg, qa.replace(f"nrcpt={nr}", "nrcpt=1"))
                    td += 0.2
            else:
                for k in range(nr):
                    if random.random() < 0.5:
                        line = (f"{host} postfix/lmtp[{8000 + pid % 5}]: {qid}: to=<u{random.randint(1, 4000)}@example.com>,"
                                f" relay=mail.example.com[private/dovecot-lmtp], delay=0.{random.randint(10, 99)},"
                                f" delays=0.05/0.01/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <u@example.com> Ab{qid[-5:]} Saved)")
                    else:
                        line = (f"{host} postfix/smtp[{7000 + pid % 11}]: {qid}: to=<c{random.randint(1, 9000)}@example.net>,"
                                f" relay=smarthost.example.net[198.51.100.7]:25, delay=1.{random.randint(0, 9)},"
                                f" delays=0.1/0.01/0.4/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9{qid[:7]})")
                    add(td + k * 0.05, "send", msg, line)
                add(td + nr * 0.05, "line", None, f"{host} postfix/qmgr[901]: {qid}: removed")
            t1 += 0.15
        add(t1 + 0.05, "line", None, smtpd + f"disconnect from {tok} ehlo=1 mail={nmsg} rcpt={max(rcpts_total, 1)}"
            f" data={nmsg} quit=1 commands={3 + 3 * nmsg}")
    # Local submissions (cron mail): queue ids no smtpd opened.
    for k in range(int(sessions * 0.005)):
        t = random.uniform(START, END - 60)
        qn += 1
        qid = f"{qn:05X}{random.randint(0, 0xFFFFF):05X}"
        add(t, "line", None, f"{host} postfix/pickup[800]: {qid}: uid=0 from=<root>")
        add(t + 0.01, "line", None, f"{host} postfix/cleanup[9001]: {qid}: message-id=<{k}.cron@{host}.example.net>")
        add(t + 0.02, "line", None, f"{host} postfix/qmgr[901]: {qid}: from=<root@{host}.example.net>, size=812, nrcpt=1 (queue active)")
        add(t + 0.05, "local", None, f"{host} postfix/local[8500]: {qid}: to=<root@{host}.example.net>, orig_to=<root>, relay=local,"
            " delay=0.05, delays=0.02/0.01/0/0.02, dsn=2.0.0, status=sent (delivered to mailbox)")
        add(t + 0.06, "line", None, f"{host} postfix/qmgr[901]: {qid}: removed")
    t = START + 300
    while t < END:
        add(t, "line", None, f"{host} postfix/anvil[700]: statistics: max connection rate 14/60s for (smtp:10.1.1.12) at {stamp(t - 200)}")
        t += 600
    return ev


FIGURES = ("lines", "sessions", "sessions_nat", "received", "received_with_message_id", "smtp_deliveries",
           "deliveries_in_later_file", "deferred_messages_sent_in_later_file", "messages_spanning_files", "rejects",
           "rejects_431", "local_deliveries")
truth = {"hosts": {}, "files": {}}
per_host = total / len(HOSTS)
for host in HOSTS:
    h = dict.fromkeys(FIGURES, 0)
    ev = generate(host, per_host / LINES_PER_SESSION)
    ev = [e for e in ev if e[0] < END]
    ev.sort(key=lambda e: (e[0], e[1]))
    os.makedirs(os.path.join(out, "logs", host), exist_ok=True)
    firstfile = {}
    received = set()
    with_id = set()
    deferred = set()
    deferred_late = set()
    spanning = set()
    fi = 0
    names = [f"mail.log.{nfiles - 1 - i}" + (".gz" if nfiles - 1 - i >= 2 else "") if i < nfiles - 1 else "mail.log"
             for i in range(nfiles)]
    writer = None
    last_t = None

    def close(w, name, t):
        w.close()
        os.utime(os.path.join(out, "logs", host, name), (t, t))

    for t, _, kind, msg, text in ev:
        while t >= ROTATIONS[fi + 1] or writer is None:
            if writer is not None:
                close(writer, names[fi], last_t)
                fi += 1
            path = os.path.join(out, "logs", host, names[fi])
            writer = gzip.open(path, "wt", compresslevel=6) if path.endswith(".gz") else open(path, "w")
            truth["files"][f"{host}/{names[fi]}"] = 0
        writer.write(f"{stamp(t)} {text}\n")
        last_t = t
        h["lines"] += 1
        truth["files"][f"{host}/{names[fi]}"] += 1
        if kind == "connect":
            h["sessions"] += 1
            h["sessions_nat"] += msg == "10.1.1.12"
        elif kind == "client":
            firstfile[msg] = fi
        elif kind == "msgid":
            with_id.add(msg)
        elif kind == "qactive":
            received.add(msg)
            if firstfile[msg] != fi:
                spanning.add(msg)
        elif kind in ("send", "defer"):
            h["smtp_deliveries"] += 1
            if kind == "defer":
                deferred.add(msg)
            if firstfile[msg] != fi:
                h["deliveries_in_later_file"] += 1
                spanning.add(msg)
                if kind == "send" and msg in deferred:
                    deferred_late.add(msg)
        elif kind == "reject431":
            h["rejects"] += 1
            h["rejects_431"] += 1
        elif kind == "reject":
            h["rejects"] += 1
        elif kind == "local":
            h["local_deliveries"] += 1
    close(writer, names[fi], last_t)
    h["received"] = len(received)
    h["received_with_message_id"] = len(received & with_id)
    h["messages_spanning_files"] = len(spanning)
    # Messages sent in a later file than their client= line after at least one deferral.
    h["deferred_messages_sent_in_later_file"] = len(deferred_late)
    truth["hosts"][host] = h
truth["total"] = {f: sum(h[f] for h in truth["hosts"].values()) for f in FIGURES}
with open(os.path.join(out, "truth.json"), "w") as w:
    json.dump(truth, w, indent=1)
print(json.dumps(truth["total"]))
