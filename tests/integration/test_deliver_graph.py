"""deliver-graph against a fake Microsoft Graph and a fake Entra ID (issue 7).

The real mailrelayd with [route] default = graph, [graph] endpoint and authority pointing at
tests/fakes/graph_fake.py and tests/fakes/entra_fake.py over HTTPS on loopback (the test CA
as ca_file). Entra checks the client secret and issues signed tokens; Graph checks the bearer
token (tenant, application, audience) on every request, the mailbox, the size, the base64
MIME or JSON body, and records the decoded message. DSNs go to senders at dsn.example.org,
which [route] sends to the file backend, so they land in the outbox. Passthrough AUTH is
driven with smtplib (STARTTLS, AUTH PLAIN and LOGIN).
"""
import base64
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import uuid

from harness import Relay, SOURCE_DIR, pki, wait_for

FAKES = os.path.join(SOURCE_DIR, "tests", "fakes")
CORPUS = os.path.join(SOURCE_DIR, "tests", "data", "mime")
PY = "/usr/bin/python3"
TENANT_A = "11111111-2222-3333-4444-555555555555"
CLIENT_A = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET_A = "Graph~secret.A:with=odd&chars"
TENANT_B = "99999999-8888-7777-6666-555555555555"
CLIENT_B = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
SECRET_B = "second-tenant-SECRET-b"
DSN = "dsn.example.org"
LIMIT = 4 * 1024 * 1024  # the fake's (and the agent's) request limit


def b64url_uuid(u):
    return base64.urlsafe_b64encode(uuid.UUID(u).bytes).rstrip(b"=").decode()


class FakeService:
    """One of tests/fakes on an ephemeral HTTPS port; goes away with the test process."""

    def __init__(self, script, *args):
        self.logf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([PY, os.path.join(FAKES, script), "--cert-dir", pki()["dir"],
                                      "--exit-on-stdin-eof", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.logf)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.logf.seek(0)
            raise AssertionError("%s did not start: %r %s" % (script, line, self.logf.read()))
        self.url = "https://127.0.0.1:%d" % int(line)
        ctx = ssl.create_default_context(cafile=pki()["ca"])
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=ctx))

    def call(self, method, path, obj=None):
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with self.opener.open(req, timeout=60) as resp:
            return json.loads(resp.read())

    def requests(self):
        return self.call("GET", "/_requests")["requests"]

    def fault(self, **fault):
        self.call("POST", "/_faults", fault)

    def configure(self, **cfg):
        self.call("POST", "/_config", cfg)

    def clear(self):
        self.call("DELETE", "/_requests")
        self.call("DELETE", "/_faults")

    def stop(self):
        try:
            self.proc.stdout.close()
            self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.logf.close()


class Entra(FakeService):
    def __init__(self, *extra):
        super().__init__("entra_fake.py", "--client", "%s:%s:%s" % (TENANT_A, CLIENT_A, SECRET_A),
                         "--client", "%s:%s:%s" % (TENANT_B, CLIENT_B, SECRET_B), *extra)

    def issued(self, tenant):
        return self.call("GET", "/_requests")["issued_by_tenant"].get(tenant, 0)

    def count(self):
        return self.call("GET", "/_requests")["count"]


class Graph(FakeService):
    def __init__(self, *extra):
        super().__init__("graph_fake.py", "--app", "%s:%s" % (TENANT_A, CLIENT_A),
                         "--app", "%s:%s" % (TENANT_B, CLIENT_B), *extra)

    def messages(self):
        return self.call("GET", "/_messages")["messages"]

    def wait_message(self, subject, timeout=30):
        def find():
            found = self.call("GET", "/_messages?subject=" + urllib.parse.quote(subject))["messages"]
            return found[0] if found else None
        return wait_for(find, timeout, 0.2, "Graph to accept %r" % subject)

    def sends(self):
        return [r for r in self.requests() if r["path"].endswith("/sendMail")]


def mime_of(record):
    """The message Graph received (MIME form), as bytes."""
    return base64.b64decode(record["mime"])


def parse(raw):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def write_secret(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def build(subject, to=("bob@example.com",), cc=(), sender="Alice Sender <alice@example.org>", text=None,
          html=None, attachments=(), headers=None):
    m = email.message.EmailMessage()
    m["From"] = sender
    if to:
        m["To"] = ", ".join(to)
    if cc:
        m["Cc"] = ", ".join(cc)
    m["Subject"] = subject
    m["Date"] = email.utils.formatdate()
    m["Message-ID"] = "<%s@test.example>" % uuid.uuid4()
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(text if text is not None else "body of %s\n" % subject)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for data, maintype, subtype, filename in attachments:
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes(policy=email.policy.SMTP)


def send(relay, body, rcpts, sender="alice@example.org", eight_bit=False):
    with relay.smtp(timeout=120) as s:
        s.ehlo("client.example.org")
        refused = s.sendmail(sender, list(rcpts), body, mail_options=["BODY=8BITMIME"] if eight_bit else [])
        if refused:
            raise AssertionError("refused: %r" % refused)


def status_line(relay, address, status):
    found = None
    for m in re.finditer(r"to=<%s> backend=graph .*status=%s \((.*)\)" % (re.escape(address), status), relay.log()):
        found = m
    return found


def graph_relay(graph, entra, secrets, graph_keys=None, extra=None):
    sections = {
        "policy": {"mode": "any_domain"},
        "route": {"default": "graph", DSN: "file"},
        "graph": {"endpoint": graph.url, "authority": entra.url, "ca_file": pki()["ca"], "timeout": "3s",
                  **(graph_keys or {})},
        "queue": {"retry_delay": "1s", "max_retry_delay": "2s"},
    }
    for sec, keys in (extra or {}).items():
        sections.setdefault(sec, {}).update(keys)
    return Relay(sections=sections, name="graph")


class GraphCase(unittest.TestCase):
    """One fake Entra, one fake Graph and one relay (the [graph] application, tenant A) for the
    whole class; tests use distinct subjects."""

    graph_args = ()
    graph_keys = {}

    @classmethod
    def setUpClass(cls):
        cls.secrets = tempfile.mkdtemp(prefix="mailrelay-graph-secrets-")
        os.chmod(cls.secrets, 0o755)
        cls.entra = Entra()
        cls.graph = Graph(*cls.graph_args)
        secret = write_secret(cls.secrets, "graph.secret", SECRET_A)
        keys = {"tenant_id": TENANT_A, "client_id": CLIENT_A, "client_secret_file": secret, **cls.graph_keys}
        cls.relay = graph_relay(cls.graph, cls.entra, cls.secrets, keys)
        cls.relay.start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.cleanup()
        cls.graph.stop()
        cls.entra.stop()
        shutil.rmtree(cls.secrets, ignore_errors=True)

    def setUp(self):
        self.graph.call("DELETE", "/_faults")

    def wait_dsn(self, before, what):
        files = wait_for(lambda: len(self.relay.outbox_files()) > before and self.relay.outbox_files(), 30,
                         what=what)
        return b"".join(self.relay.read(f) for f in files).decode("utf-8", "replace")


class Mime(GraphCase):
    """The MIME form ([graph] save_to_sent_items = yes, the default)."""

    def test_plain_text_reaches_graph_as_sent(self):
        body = build("plain one", to=["plain@example.com"], text="Hello,\r\nline two\r\n")
        send(self.relay, body, ["plain@example.com"])
        m = self.graph.wait_message("plain one")
        self.assertEqual(m["form"], "mime")
        self.assertTrue(m["save_to_sent_items"])
        self.assertEqual((m["tenant"], m["appid"]), (TENANT_A, CLIENT_A))
        self.assertEqual(m["mailbox"], "alice@example.org")
        raw = mime_of(m)
        # The queued message (smtpd's Received: first) unchanged: its recipients already were exact.
        self.assertTrue(raw.startswith(b"Received: from client.example.org"), raw[:200])
        self.assertTrue(raw.endswith(body), raw[-300:])
        self.assertEqual(parse(raw).get_body(("plain",)).get_content().replace("\r\n", "\n"), "Hello,\nline two\n")
        req = [r for r in self.graph.sends() if r.get("subject") == "plain one"][-1]
        self.assertEqual(req["headers"]["content-type"], "text/plain")
        self.assertEqual(req["headers"]["authorization"], "<redacted>")
        self.assertEqual(req["path"], "/v1.0/users/alice@example.org/sendMail")
        line = wait_for(lambda: status_line(self.relay, "plain@example.com", "sent"), what="the log line")
        self.assertEqual(line.group(1), "250 2.0.0 202 Accepted request-id=" + m["request_id"])

    def test_html_with_attachments_and_inline_image(self):
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(300)
        m = email.message.EmailMessage()
        m["From"] = "alice@example.org"
        m["To"] = "bob@example.com"
        m["Subject"] = "files one"
        m["Date"] = email.utils.formatdate()
        m["Message-ID"] = "<files-one@test.example>"
        m.set_content("plain version\n")
        m.add_alternative('<p>logo <img src="cid:logo@example.org"></p>\n', subtype="html")
        m.get_payload()[1].add_related(png, maintype="image", subtype="png", cid="<logo@example.org>")
        m.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
        body = m.as_bytes(policy=email.policy.SMTP)
        send(self.relay, body, ["bob@example.com"])
        got = parse(mime_of(self.graph.wait_message("files one")))
        self.assertEqual(got.get_body(("html",)).get_content().replace("\r\n", "\n"),
                         '<p>logo <img src="cid:logo@example.org"></p>\n')
        parts = {p.get_content_type(): p.get_content() for p in got.walk() if not p.is_multipart()}
        self.assertEqual(parts["application/pdf"], pdf)
        self.assertEqual(parts["image/png"], png)
        self.assertTrue(mime_of(self.graph.wait_message("files one")).endswith(body))

    def test_envelope_only_recipient_gets_a_bcc_header(self):
        body = build("bcc one", to=["Bob <bob@example.com>"], cc=["carol@example.org"])
        send(self.relay, body, ["bob@example.com", "carol@example.org", "hidden@example.net"])
        m = self.graph.wait_message("bcc one")
        self.assertEqual((m["to"], m["cc"], m["bcc"]), (["bob@example.com"], ["carol@example.org"],
                                                         ["hidden@example.net"]))
        msg = parse(mime_of(m))
        self.assertEqual(msg["Bcc"], "hidden@example.net")
        self.assertEqual(msg["To"], "Bob <bob@example.com>")  # kept as written

    def test_header_only_recipient_is_not_sent_to(self):
        body = build("header only", to=["bob@example.com", "victim@example.com"], cc=["other@example.org"],
                     headers={"Bcc": "sneaky@example.org"})
        send(self.relay, body, ["bob@example.com"])
        m = self.graph.wait_message("header only")
        self.assertEqual((m["to"], m["cc"], m["bcc"]), (["bob@example.com"], [], []))
        raw = mime_of(m)
        for nobody in (b"victim@", b"other@", b"sneaky@"):
            self.assertNotIn(nobody, raw)
        self.assertEqual(m["bcc_fields"], 0)

    def test_sender_mailbox_is_the_envelope_sender_then_the_from_address(self):
        body = build("sender one", sender="Display <display@example.org>")
        send(self.relay, body, ["bob@example.com"], sender="envelope@example.org")
        self.assertEqual(self.graph.wait_message("sender one")["mailbox"], "envelope@example.org")
        # A null reverse path (a DSN, a report) sends as the From address.
        send(self.relay, build("sender two", sender="Reports <reports@example.org>"), ["bob@example.com"], sender="")
        self.assertEqual(self.graph.wait_message("sender two")["mailbox"], "reports@example.org")

    def test_one_token_request_for_50_messages(self):
        with self.relay.smtp(timeout=120) as s:
            s.ehlo("client.example.org")
            for i in range(50):
                s.sendmail("alice@example.org", ["bob@example.com"], build("burst %02d" % i))
        wait_for(lambda: len([m for m in self.graph.messages() if m["subject"].startswith("burst ")]) >= 50,
                 60, 0.3, "50 messages at Graph")
        burst = [m for m in self.graph.messages() if m["subject"].startswith("burst ")]
        self.assertEqual(len(burst), 50)
        self.assertEqual(len({m["token_id"] for m in burst}), 1)
        # Every delivery of this relay so far used that one token.
        self.assertEqual(self.entra.issued(TENANT_A), 1)
        snap = self.graph.call("GET", "/_requests")
        self.assertLessEqual(snap["max_inflight"], 4)  # [graph] concurrency: Graph's 4 per app

    def test_size_limit_measured_at_the_fake(self):
        def message(n, size=None):
            head = ("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: size probe %d\r\n"
                    "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <size-probe-%d@test.example>\r\n\r\n"
                    % (n, n)).encode()
            want = (size or 0) - len(head)
            full, rest = divmod(max(want, 0), 1000)
            body = (b"x" * 998 + b"\r\n") * full
            if rest >= 2:
                body += b"y" * (rest - 2) + b"\r\n"
            elif rest == 1:
                body = body[:-3] + b"zz\r\n"
            return head + (body if size else b"probe\r\n")
        probe = message(1)
        send(self.relay, probe, ["bob@example.com"])
        overhead = self.graph.wait_message("size probe 1")["size"] - len(probe)  # smtpd's Received:
        largest = 3 * 1024 * 1024  # base64 of 3 MiB is exactly 4 MiB
        ok = message(2, largest - overhead)
        self.assertEqual(len(ok), largest - overhead)
        send(self.relay, ok, ["bob@example.com"])
        m = self.graph.wait_message("size probe 2", 60)
        self.assertEqual(m["size"], largest)
        self.assertEqual(m["request_bytes"], LIMIT)
        over = message(3, largest - overhead + 1)
        before = len(self.graph.sends())
        send(self.relay, over, ["bob@example.com"], sender="big@" + DSN)
        line = wait_for(lambda: status_line(self.relay, "bob@example.com", "bounced"), 60, what="the bounce")
        self.assertRegex(line.group(1), r"^552 5\.3\.4 message too large for Graph sendMail: the request would be "
                                        r"4194308 bytes \(3145729 bytes of message\), over its limit of 4194304")
        self.assertEqual(len(self.graph.sends()), before)  # never sent
        dsn = self.wait_dsn(0, "the DSN for the oversized message")
        self.assertIn("too large for Graph", dsn)
        self.assertRegex(dsn, r"Status: 5\.3\.4")

    def test_whole_corpus(self):
        with open(os.path.join(CORPUS, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        extra = "extra-bcc@example.net"
        for entry in manifest["messages"]:
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            env = entry["envelope"]
            send(self.relay, raw, env["rcpt_to"] + [extra], sender=env["mail_from"], eight_bit=entry["eight_bit"])
        fits = [e for e in manifest["messages"] if e["sizes"]["graph_mime_request"] < LIMIT * 0.99]
        too_big = [e for e in manifest["messages"] if e not in fits]
        self.assertEqual([e["file"] for e in too_big], ["023-large-3mb.eml"])

        got = wait_for(lambda: len(self.corpus_messages(manifest)) >= len(fits) and self.corpus_messages(manifest),
                       120, 0.5, "%d corpus messages at Graph" % len(fits))
        for entry in fits:
            with self.subTest(entry["file"]):
                with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                    original = f.read()
                want = sorted(a.lower() for a in entry["envelope"]["rcpt_to"] + [extra])
                matches = [m for m in got if m["subject"] == (entry["subject"] or "") and
                           sorted(a.lower() for a in m["to"] + m["cc"] + m["bcc"]) == want]
                self.assertEqual(len(matches), 1)
                self.check(entry, original, matches[0], extra)
        for entry in too_big:
            line = wait_for(lambda: status_line(self.relay, extra, "bounced"), 30, what="the 023 bounce")
            self.assertIn("552 5.3.4 message too large for Graph sendMail", line.group(0))

    def corpus_messages(self, manifest):
        subjects = {e["subject"] or "" for e in manifest["messages"]}
        return [m for m in self.graph.messages() if m["subject"] in subjects and m["form"] == "mime"]

    def check(self, entry, original, m, extra):
        raw = mime_of(m)
        self.assertEqual(m["mailbox"], entry["envelope"]["mail_from"].lower())
        # The body (everything after the header section) is byte for byte the file's.
        self.assertTrue(raw.endswith(b"\r\n\r\n" + original.split(b"\r\n\r\n", 1)[1]))
        # Headers: smtpd's Received first, then the file's own, To/Cc/Bcc aside, in order.
        sent_fields = [(k, v) for k, v in parse(raw).items()]
        orig_fields = [(k, v) for k, v in parse(original).items()]
        self.assertEqual(sent_fields[0][0], "Received")
        # smtpd adds Message-ID and Date to a message that has none (018).
        added = {n for n in ("message-id", "date") if n not in {k.lower() for k, _ in orig_fields}}
        skip = ("to", "cc", "bcc") + tuple(added)
        self.assertEqual([f for f in sent_fields[1:] if f[0].lower() not in skip],
                         [f for f in orig_fields if f[0].lower() not in skip])
        # Recipients: To/Cc keep the header's envelope recipients; everything else is a Bcc.
        to_hdr = {a["address"].lower() for a in entry["to"]}
        cc_hdr = {a["address"].lower() for a in entry["cc"]} - to_hdr
        self.assertEqual({a.lower() for a in m["to"]}, to_hdr)
        self.assertEqual({a.lower() for a in m["cc"]}, cc_hdr)
        self.assertEqual({a.lower() for a in m["bcc"]},
                         {a.lower() for a in entry["envelope"]["rcpt_to"] + [extra]} - to_hdr - cc_hdr)
        msg = parse(raw)
        text = msg.get_body(("plain",))
        if entry["text"] is not None and text is not None:
            self.assertEqual(text.get_content().replace("\r\n", "\n"), entry["text"])


class Json(GraphCase):
    """save_to_sent_items = no: the JSON form, built from the parsed message."""

    graph_keys = {"save_to_sent_items": "no"}

    def test_html_attachments_inline_and_bcc(self):
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
        m = email.message.EmailMessage()
        m["From"] = "Alice <alice@example.org>"
        m["To"] = "Bob <bob@example.com>, victim@example.com"
        m["Subject"] = "json one"
        m["X-Ticket"] = "T-42"
        m["Reply-To"] = "desk@example.org"
        m.set_content("plain version\n")
        m.add_alternative('<p><img src="cid:logo@example.org"></p>\n', subtype="html")
        m.get_payload()[1].add_related(png, maintype="image", subtype="png", cid="<logo@example.org>")
        m.add_attachment(b"a,b\r\n1,2\r\n", maintype="text", subtype="csv", filename="data.csv")
        send(self.relay, m.as_bytes(policy=email.policy.SMTP), ["bob@example.com", "hidden@example.net"])
        rec = self.graph.wait_message("json one")
        self.assertEqual(rec["form"], "json")
        self.assertFalse(rec["save_to_sent_items"])
        msg = rec["json"]["message"]
        self.assertEqual(msg["body"], {"contentType": "HTML", "content": '<p><img src="cid:logo@example.org"></p>\n'})
        self.assertEqual(msg["toRecipients"], [{"emailAddress": {"address": "bob@example.com", "name": "Bob"}}])
        self.assertEqual(msg["bccRecipients"], [{"emailAddress": {"address": "hidden@example.net"}}])
        self.assertNotIn("victim", json.dumps(rec["json"]))
        self.assertEqual(msg["from"], {"emailAddress": {"address": "alice@example.org", "name": "Alice"}})
        self.assertEqual(msg["replyTo"], [{"emailAddress": {"address": "desk@example.org"}}])
        self.assertEqual(msg["internetMessageHeaders"], [{"name": "X-Ticket", "value": "T-42"}])
        img, csv = msg["attachments"]
        self.assertEqual((img["contentType"], img["contentId"], img["isInline"]), ("image/png", "logo@example.org", True))
        self.assertEqual(base64.b64decode(img["contentBytes"]), png)
        self.assertEqual((csv["name"], csv["isInline"]), ("data.csv", False))
        self.assertEqual(base64.b64decode(csv["contentBytes"]), b"a,b\r\n1,2\r\n")

    def test_whole_corpus(self):
        with open(os.path.join(CORPUS, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        for entry in manifest["messages"]:
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            env = entry["envelope"]
            send(self.relay, raw, env["rcpt_to"], sender=env["mail_from"], eight_bit=entry["eight_bit"])
        n = len(manifest["messages"]) - 1  # 023: its 3 MiB attachment is over the limit in JSON too
        subjects = {e["subject"] or "" for e in manifest["messages"]}
        corpus = lambda: [m for m in self.graph.messages() if m["subject"] in subjects]  # noqa: E731
        wait_for(lambda: len(corpus()) >= n, 120, 0.5, "%d corpus messages" % n)
        got = corpus()
        for entry in manifest["messages"]:
            with self.subTest(entry["file"]):
                want = sorted(a.lower() for a in entry["envelope"]["rcpt_to"])
                matches = [m for m in got if m["subject"] == (entry["subject"] or "") and
                           sorted(a.lower() for a in m["to"] + m["cc"] + m["bcc"]) == want]
                if entry["file"] == "023-large-3mb.eml":
                    self.assertEqual(matches, [])
                    continue
                self.assertEqual(len(matches), 1)
                self.check(entry, matches[0]["json"]["message"])
        self.assertRegex(self.relay.log(), r"status=bounced \(552 5\.3\.4 message too large for Graph sendMail")

    def check(self, entry, msg):
        if entry["html"] is not None:
            self.assertEqual(msg["body"], {"contentType": "HTML", "content": entry["html"]})
        else:
            self.assertEqual(msg["body"], {"contentType": "Text", "content": entry["text"] or ""})
        atts = msg.get("attachments", [])
        self.assertEqual(len(atts), len(entry["attachments"]))
        for got, want in zip(atts, entry["attachments"]):
            data = base64.b64decode(got["contentBytes"])
            self.assertEqual(hashlib.sha256(data).hexdigest(), want["sha256"])
            self.assertEqual(got["contentType"], want["content_type"])
            self.assertEqual(got["isInline"], want["inline"])
            if want["filename"] is not None:
                self.assertEqual(got["name"], want["filename"])
            if want["inline"]:
                self.assertEqual(got["contentId"], want["content_id"])
        want_headers, seen = [], set()
        for k, v in entry["custom_headers"]:
            if k.lower().startswith("x-") and not k.lower().startswith("x-ms-exchange-") and k.lower() not in seen:
                seen.add(k.lower())
                want_headers.append({"name": k, "value": v})
        self.assertEqual(msg.get("internetMessageHeaders", []), want_headers)
        to_hdr = {a["address"].lower() for a in entry["to"]}
        self.assertEqual({r["emailAddress"]["address"].lower() for r in msg["toRecipients"]}, to_hdr)
        reply = entry["reply_to"]
        self.assertEqual([r["emailAddress"]["address"] for r in msg.get("replyTo", [])], [a["address"] for a in reply])


class Failures(GraphCase):
    """Graph's error answers and misbehaviour: what is retried, what bounces, what is loud."""

    graph_args = ("--deny", "%s:%s:denied@%s" % (TENANT_A, CLIENT_A, DSN),
                  "--unlicensed", "%s:ghost@%s" % (TENANT_A, DSN))

    def test_429_with_retry_after_then_success(self):
        self.graph.fault(path="/v1.0/", count=1, status=429, headers={"Retry-After": "2"},
                         body={"error": {"code": "ApplicationThrottled", "message": "Too many requests."}})
        start = time.monotonic()
        send(self.relay, build("throttled one", to=["t429@example.com"]), ["t429@example.com"])
        self.graph.wait_message("throttled one", 40)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)  # Retry-After, not retry_delay
        log = self.relay.log()
        self.assertRegex(log, r"backend is throttling; pausing deliveries to it backend=graph retry_after=2")
        self.assertRegex(log, r"to=<t429@example.com> backend=graph .*status=deferred \(451 4\.4\.5 Graph answered "
                              r"429 ApplicationThrottled: Too many requests\.")

    def test_403_access_denied_bounces_with_a_dsn(self):
        before = len(self.relay.outbox_files())
        send(self.relay, build("denied one", to=["d403@example.com"], sender="denied@" + DSN), ["d403@example.com"],
             sender="denied@" + DSN)
        dsn = self.wait_dsn(before, "the DSN for the 403")
        self.assertIn("d403@example.com", dsn)
        self.assertIn("ErrorAccessDenied", dsn)
        self.assertIn("not allowed to send as denied@" + DSN, dsn)
        self.assertRegex(dsn, r"Status: 5\.7\.1")
        self.assertEqual([r["status"] for r in self.graph.sends() if r.get("mailbox") == "denied@" + DSN], [403])

    def test_404_mailbox_without_exchange_bounces(self):
        before = len(self.relay.outbox_files())
        send(self.relay, build("ghost one", to=["g404@example.com"]), ["g404@example.com"], sender="ghost@" + DSN)
        dsn = self.wait_dsn(before, "the DSN for the 404")
        self.assertIn("MailboxNotEnabledForRESTAPI", dsn)
        self.assertRegex(dsn, r"Status: 5\.1\.8")

    def test_400_invalid_recipients_bounces_with_graphs_words(self):
        self.graph.fault(path="/v1.0/", count=1, status=400,
                         body={"error": {"code": "ErrorInvalidRecipients",
                                         "message": "At least one recipient isn't valid."}})
        send(self.relay, build("invalid one", to=["r400@example.com"]), ["r400@example.com"])
        line = wait_for(lambda: status_line(self.relay, "r400@example.com", "bounced"), 30, what="the bounce")
        self.assertEqual(line.group(1), "550 5.1.3 Graph answered 400 ErrorInvalidRecipients: At least one "
                                        "recipient isn't valid.")

    def test_401_refreshes_once_then_defers_loudly(self):
        issued = self.entra.issued(TENANT_A)
        body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}}
        self.graph.fault(path="/v1.0/", count=2, status=401, body=body)
        send(self.relay, build("expired one", to=["e401@example.com"]), ["e401@example.com"])
        self.graph.wait_message("expired one", 40)
        self.assertEqual([r["status"] for r in self.graph.sends()][-3:], [401, 401, 202])
        self.assertEqual(self.entra.issued(TENANT_A), issued + 1)  # one refresh, not one per 401
        log = self.relay.log()
        self.assertIn("Graph refused the access token (401); fetching a new one and sending again", log)
        self.assertIn("CONFIGURATION ERROR talking to Graph: Graph answered 401 InvalidAuthenticationToken", log)
        self.assertRegex(log, r"to=<e401@example.com> backend=graph .*status=deferred \(451 4\.7\.0 ")

    def test_revoked_token_is_replaced_and_the_send_succeeds(self):
        send(self.relay, build("warm one", to=["warm@example.com"]), ["warm@example.com"])
        self.graph.wait_message("warm one")
        self.graph.configure(revoke_tokens=True)
        send(self.relay, build("revoked one", to=["rev@example.com"]), ["rev@example.com"])
        self.graph.wait_message("revoked one", 30)
        self.assertIsNotNone(status_line(self.relay, "rev@example.com", "sent"))

    def test_garbage_huge_and_reset_answers_are_retried(self):
        self.graph.fault(path="/v1.0/", count=1, garbage=True)
        self.graph.fault(path="/v1.0/", count=1, status=500, body="x" * (3 << 20))
        self.graph.fault(path="/v1.0/", count=1, reset=True)
        self.graph.fault(path="/v1.0/", count=1, status=503, headers={"Retry-After": "1"}, body="<html>busy</html>")
        send(self.relay, build("hostile one", to=["hostile@example.com"]), ["hostile@example.com"])
        self.graph.wait_message("hostile one", 60)
        deferred = re.findall(r"to=<hostile@example.com> backend=graph .*status=deferred \((.*)\)", self.relay.log())
        self.assertEqual(len(deferred), 4, deferred)
        self.assertTrue(all(d.startswith("451 4.") for d in deferred), deferred)
        self.assertTrue(all(len(d) < 1200 for d in deferred))

    def test_hang_times_out_and_is_retried(self):
        self.graph.fault(path="/v1.0/", count=1, hang=True)
        send(self.relay, build("hang one", to=["hang@example.com"]), ["hang@example.com"])
        self.graph.wait_message("hang one", 40)
        self.assertRegex(self.relay.log(), r"to=<hang@example.com> backend=graph .*status=deferred \(451 4\.4\.2 "
                                           r"Graph did not answer in time")


class Passthrough(unittest.TestCase):
    """[graph] passthrough_auth = yes: the SMTP user name names the tenant and the application,
    the password is its client secret; two tenants share one queue."""

    @classmethod
    def setUpClass(cls):
        cls.entra = Entra()
        cls.graph = Graph()
        p = pki()
        cls.relay = graph_relay(cls.graph, cls.entra, None, {"passthrough_auth": "yes", "timeout": "2s"}, {
            "smtpd": {"auth": "optional", "allow_plaintext_auth": "loopback",
                      "tls_cert_file": p["server"], "tls_key_file": p["server_key"]},
            "policy": {"networks": "10.99.0.0/16", "mode": "auth_any_domain"},
        })
        cls.relay.start()
        wait_for(lambda: os.path.exists(os.path.join(cls.relay.run_dir, "graph-auth.sock")), 20,
                 what="graph-auth.sock")

    @classmethod
    def tearDownClass(cls):
        cls.relay.cleanup()
        cls.graph.stop()
        cls.entra.stop()

    def setUp(self):
        self.graph.call("DELETE", "/_faults")
        self.entra.call("DELETE", "/_faults")

    def session(self, source="127.0.0.1", tls=True):
        s = smtplib.SMTP("127.0.0.1", self.relay.port, timeout=60, source_address=(source, 0))
        s.ehlo("client.example.org")
        if tls:
            s.starttls(context=ssl.create_default_context(cafile=pki()["ca"]))
            s.ehlo("client.example.org")
        return s

    @staticmethod
    def auth(s, user, password, mechanism="PLAIN"):
        """One AUTH attempt: (code, text). PLAIN goes as one line with the initial response (any
        bytes in the name); LOGIN through smtplib's own dialogue."""
        if mechanism == "PLAIN":
            token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode()
            return s.docmd("AUTH", "PLAIN " + token)
        s.user, s.password = user, password
        try:
            return s.auth(mechanism, s.auth_login)
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code, e.smtp_error

    def test_a_good_secret_authenticates_and_the_mail_goes_with_that_tenant(self):
        with self.session() as s:
            code, text = self.auth(s, "%s@%s.relay.example" % (TENANT_A, CLIENT_A), SECRET_A, "LOGIN")
            self.assertEqual(code, 235, text)
            s.sendmail("printer@example.org", ["boss@example.com"], build("pass one", to=["boss@example.com"],
                                                                         sender="printer@example.org"))
        m = self.graph.wait_message("pass one")
        self.assertEqual((m["tenant"], m["appid"], m["mailbox"]), (TENANT_A, CLIENT_A, "printer@example.org"))
        self.assertRegex(self.relay.log(), r"authenticated client=\S+ sasl_username=%s@%s\.relay\.example" % (TENANT_A, CLIENT_A))

    def test_base64url_names_work_too(self):
        with self.session() as s:
            code, text = self.auth(s, "%s@%s" % (b64url_uuid(TENANT_B), b64url_uuid(CLIENT_B)), SECRET_B)
            self.assertEqual(code, 235, text)
            s.sendmail("scanner@example.org", ["boss@example.com"], build("pass b64", to=["boss@example.com"]))
        m = self.graph.wait_message("pass b64")
        self.assertEqual((m["tenant"], m["appid"]), (TENANT_B, CLIENT_B))

    def test_a_wrong_secret_gets_535_at_auth_time(self):
        with self.session(source="127.0.0.2") as s:
            code, text = self.auth(s, "%s@%s" % (TENANT_A, CLIENT_A), "not-the-secret")
            self.assertEqual(code, 535)
            self.assertIn(b"5.7.8", text)
            # Not trusted: relaying is refused, the message never reaches the queue.
            s.mail("printer@example.org")
            code, _ = s.rcpt("boss@example.com")
            self.assertEqual(code, 554)
        log = self.relay.log()
        self.assertIn("SASL authentication failed: passthrough: Entra refused the credentials", log)
        self.assertNotIn("not-the-secret", log)

    def test_malformed_user_names_are_refused_without_asking_entra(self):
        before = self.entra.count()
        names = ["alice", "%s@%s@%s" % (TENANT_A, CLIENT_A, CLIENT_A), "%s:%s" % (TENANT_A, CLIENT_A),
                 "lookup@%s" % CLIENT_A, "%s@%s" % (TENANT_A[:-1], CLIENT_A), "x" * 300,
                 "%s@%s" % (TENANT_A, "EjRWeBI0EjQSNBI0Vnia"), "\u00e9%s@%s" % (TENANT_A, CLIENT_A), ""]
        for i, name in enumerate(names):
            with self.session(source="127.0.1.%d" % (i + 1), tls=False) as s:
                code, text = self.auth(s, name, SECRET_A)
                self.assertIn(code, (535, 501), (name, text))
        self.assertEqual(self.entra.count(), before)

    def test_two_tenants_in_one_queue_and_no_secret_in_the_spool(self):
        # Graph is down: both messages wait in the queue, each with its own sealed secret.
        self.graph.fault(path="/v1.0/", count=1000, status=503, body={"error": {"code": "ServiceUnavailable",
                                                                              "message": "down"}})
        for tenant, client, secret, subject in ((TENANT_A, CLIENT_A, SECRET_A, "queue A"),
                                                (TENANT_B, CLIENT_B, SECRET_B, "queue B")):
            with self.session() as s:
                code, text = self.auth(s, "%s@%s" % (tenant, client), secret)
                self.assertEqual(code, 235, text)
                s.sendmail("printer@example.org", ["q@example.com"], build(subject, to=["q@example.com"]))
        wait_for(lambda: len(self.relay.relayctl("list", json_out=True)["messages"]) >= 2, 20, 0.2, "two queued")
        spool_files = [os.path.join(self.relay.spool, f) for f in os.listdir(self.relay.spool)
                       if f.startswith("queue.db")]
        self.assertIn(os.path.join(self.relay.spool, "queue.db"), spool_files)
        for path in spool_files:
            data = self.relay.read(path)
            for secret in (SECRET_A, SECRET_B):
                self.assertNotIn(secret.encode(), data, path)
                self.assertNotIn(base64.b64encode(secret.encode()), data, path)
        for secret in (SECRET_A, SECRET_B):
            self.assertNotIn(secret, self.relay.log())
        self.graph.call("DELETE", "/_faults")
        self.relay.relayctl("flush")
        a, b = self.graph.wait_message("queue A", 30), self.graph.wait_message("queue B", 30)
        self.assertEqual((a["tenant"], a["appid"]), (TENANT_A, CLIENT_A))
        self.assertEqual((b["tenant"], b["appid"]), (TENANT_B, CLIENT_B))
        self.assertNotEqual(a["token_id"], b["token_id"])

    def test_a_burst_of_sessions_makes_one_token_request(self):
        self.entra.configure(client="%s:%s:%s" % (TENANT_B, "cccccccc-cccc-cccc-cccc-cccccccccccc", "burst-secret"))
        before = self.entra.count()
        for _ in range(10):
            with self.session(tls=False) as s:
                code, text = self.auth(s, "%s@cccccccc-cccc-cccc-cccc-cccccccccccc" % TENANT_B, "burst-secret")
                self.assertEqual(code, 235, text)
        self.assertEqual(self.entra.count(), before + 1)

    def test_entra_hanging_or_talking_garbage_gives_454(self):
        client = str(uuid.uuid4())
        self.entra.configure(client="%s:%s:%s" % (TENANT_A, client, "hang-secret"))
        for fault in ({"hang": True}, {"garbage": True}, {"status": 200, "body": "y" * (2 << 20)}):
            self.entra.fault(path="/", count=1, **fault)
            with self.session(tls=False) as s:
                start = time.monotonic()
                code, text = self.auth(s, "%s@%s" % (TENANT_A, client), "hang-secret")
                self.assertEqual(code, 454, (fault.keys(), text))
                self.assertLess(time.monotonic() - start, 10)
        with self.session(tls=False) as s:  # Entra is fine again
            self.assertEqual(self.auth(s, "%s@%s" % (TENANT_A, client), "hang-secret")[0], 235)

    def test_a_stopped_deliver_graph_gives_454_not_235(self):
        pid = self.relay.pid_of("deliver-graph")
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGSTOP)
        try:
            with self.session(tls=False) as s:
                start = time.monotonic()
                code, _ = self.auth(s, "%s@%s" % (TENANT_A, CLIENT_A), SECRET_A)
                self.assertEqual(code, 454)
                self.assertGreaterEqual(time.monotonic() - start, 5)  # [graph] timeout + 5 s
        finally:
            os.kill(pid, signal.SIGCONT)
        with self.session(tls=False) as s:
            self.assertEqual(self.auth(s, "%s@%s" % (TENANT_A, CLIENT_A), SECRET_A)[0], 235)


if __name__ == "__main__":
    unittest.main()
