"""deliver-azure against a fake Azure Communication Services Email (issue 6).

The real mailrelayd with [route] default = azure and [azure] endpoint pointing at
tests/fakes/acs_fake.py over HTTPS on loopback (the test CA as ca_file). The fake recomputes
the HMAC signature and content hash, checks the JSON against the EmailMessage schema, honours
repeatable requests and records what it got; tests/fakes/entra_fake.py issues the tokens for
the Entra ID cases. DSNs go to senders at dsn.example.org, which [route] sends to the file
backend, so they land in the outbox.
"""
import base64
import email.message
import email.policy
import email.utils
import hashlib
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import Relay, SOURCE_DIR, pki, wait_for

FAKES = os.path.join(SOURCE_DIR, "tests", "fakes")
CORPUS = os.path.join(SOURCE_DIR, "tests", "data", "mime")
PY = "/usr/bin/python3"
ACCESS_KEY = base64.b64encode(bytes(range(64))).decode()
WRONG_KEY = base64.b64encode(b"not the key" * 4).decode()
SENDER = "DoNotReply@relay.example.com"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "client~secret:with=odd&chars"
DSN_SENDER = "alice@dsn.example.org"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FakeService:
    """One of tests/fakes on an ephemeral HTTPS port; goes away with the test process."""

    def __init__(self, script, *args):
        self.log_path = tempfile.mktemp(prefix="mailrelay-%s-" % script.split(".")[0], suffix=".log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([PY, os.path.join(FAKES, script), "--cert-dir", pki()["dir"],
                                      "--exit-on-stdin-eof", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.logf)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            raise AssertionError("%s did not start: %r %s" % (script, line, open(self.log_path).read()))
        self.port = int(line)
        self.url = "https://127.0.0.1:%d" % self.port
        ctx = ssl.create_default_context(cafile=pki()["ca"])
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=ctx))

    def call(self, method, path, obj=None):
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with self.opener.open(req, timeout=60) as resp:
            return json.loads(resp.read())

    def stop(self):
        try:
            self.proc.stdout.close()
            self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.logf.close()
        os.unlink(self.log_path)


class Acs(FakeService):
    def __init__(self, *args):
        super().__init__("acs_fake.py", "--sender", SENDER, *args)

    def summary(self):
        return self.call("GET", "/_summary")

    def emails(self, since=0):
        return self.call("GET", "/_emails?since=%d" % since)["emails"]

    def requests(self):
        return self.call("GET", "/_requests")["requests"]

    def fault(self, **fault):
        self.call("POST", "/_faults", fault)

    def configure(self, **cfg):
        self.call("POST", "/_config", cfg)

    def clear(self):
        self.call("DELETE", "/_requests")
        self.call("DELETE", "/_faults")

    def wait_email(self, subject, timeout=30):
        """The accepted send whose subject is `subject` (waits for it)."""
        def find():
            for e in self.emails():
                if e["message"]["content"]["subject"] == subject:
                    return e
            return None
        return wait_for(find, timeout, 0.2, "ACS to accept %r" % subject)

    def send_requests(self):
        return [r for r in self.requests() if r["path"] == "/emails:send"]


def write_secret(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def azure_relay(acs, secrets_dir, azure=None, queue=None, key=ACCESS_KEY, route=None):
    keyfile = write_secret(secrets_dir, "acs-%d.key" % len(os.listdir(secrets_dir)), key)
    sections = {
        "policy": {"recipient_domains": "example.com, example.org, example.net, test.example"},
        "route": {"default": "azure", "dsn.example.org": "file", **(route or {})},
        "azure": {"endpoint": acs.url, "access_key_file": keyfile, "sender": SENDER,
                  "ca_file": pki()["ca"], "timeout": "5s", **(azure or {})},
        "queue": {"retry_delay": "1s", "max_retry_delay": "2s", **(queue or {})},
    }
    return Relay(sections=sections, name="azure")


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
        opts = ["BODY=8BITMIME"] if eight_bit else []
        refused = s.sendmail(sender, list(rcpts), body, mail_options=opts)
        if refused:
            raise AssertionError("refused: %r" % refused)


def recipients_of(email_record):
    msg = email_record["message"]["recipients"]
    return {f: [r["address"] for r in msg.get(f, [])] for f in ("to", "cc", "bcc")}


def sent_log(relay, address, containing=""):
    """The last "status=sent" log line for address (with `containing` in its text)."""
    found = None
    for m in re.finditer(r"to=<%s> backend=azure .*status=sent \((.*)\)" % re.escape(address), relay.log()):
        if containing in m.group(1):
            found = m
    return found


class FakeSelfCheck(unittest.TestCase):
    """The fake's signature check agrees with the Azure SDK: the vectors in tests/data made by
    its HMACCredentialsPolicy pass, and so does a request the SDK signs right now."""

    @staticmethod
    def fake_module():
        import importlib
        import sys
        sys.path.insert(0, FAKES)
        return importlib.import_module("acs_fake")

    def test_sdk_vectors_pass_and_tampering_fails(self):
        acs_fake = self.fake_module()
        with open(os.path.join(SOURCE_DIR, "tests", "data", "acs-hmac-example.txt"), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(SOURCE_DIR, "tests", "data", "acs-hmac-example-body.json"), "rb") as f:
            post_body = f.read()
        key = re.search(r"^access key\s+= (\S+)", text, re.M).group(1)
        host = re.search(r"^host \(signed\)\s+= (\S+)", text, re.M).group(1)
        vectors = re.findall(r"^\[vector (\w+) (\S+)\].*?^x-ms-date: (.*?)\n^x-ms-content-sha256: (\S+)\n"
                             r"^Authorization: (.*?)$", text, re.M | re.S)
        self.assertEqual(len(vectors), 2)
        for method, path_query, date, content_hash, authorization in vectors:
            body = post_body if method == "POST" else b""
            headers = {"x-ms-date": date, "x-ms-content-sha256": content_hash, "host": host}
            now = email.utils.parsedate_to_datetime(date).timestamp()
            check = lambda b, k=key, h=headers, pq=path_query: acs_fake.hmac_problem(
                method, pq, h.get, b, k, authorization, now, 900)
            self.assertIsNone(check(body), path_query)
            self.assertEqual(check(body + b" "), "x-ms-content-sha256 does not match the body")
            self.assertEqual(acs_fake.hmac_problem(method, path_query, headers.get, body, WRONG_KEY,
                                                   authorization, now, 900), "signature mismatch")
            self.assertEqual(acs_fake.hmac_problem(method, path_query + "x", headers.get, body, key,
                                                   authorization, now, 900), "signature mismatch")
            self.assertIn("too far", acs_fake.hmac_problem(method, path_query, headers.get, body, key,
                                                           authorization, now + 3600, 900))

    def test_request_signed_now_by_the_azure_sdk_passes(self):
        try:
            from types import SimpleNamespace
            import azure.communication.email._shared.policy as policy
        except ImportError:
            self.skipTest("python3-azure is not installed")
        acs_fake = self.fake_module()
        endpoint = "https://127.0.0.1:8443"
        body = '{"senderAddress":"a@example.com"}'
        req = SimpleNamespace(http_request=SimpleNamespace(
            method="POST", url=endpoint + "/emails:send?api-version=2025-09-01", body=body, headers={}))
        policy.HMACCredentialsPolicy(endpoint, ACCESS_KEY).on_request(req)
        h = {k.lower(): v for k, v in req.http_request.headers.items()}
        h.setdefault("host", "127.0.0.1:8443")
        self.assertIsNone(acs_fake.hmac_problem("POST", "/emails:send?api-version=2025-09-01", h.get,
                                                body.encode(), ACCESS_KEY, h["authorization"], time.time(), 900))


class AcsCase(unittest.TestCase):
    """One fake ACS and one relay for the whole class (tests use distinct subjects)."""

    acs_args = ()
    azure = None
    queue = None
    key = ACCESS_KEY

    @classmethod
    def setUpClass(cls):
        cls.secrets = tempfile.mkdtemp(prefix="mailrelay-azure-secrets-")
        os.chmod(cls.secrets, 0o755)
        cls.acs = Acs("--access-key", ACCESS_KEY, *cls.acs_args)
        cls.relay = azure_relay(cls.acs, cls.secrets, cls.azure, cls.queue, cls.key)
        cls.relay.start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.cleanup()
        cls.acs.stop()
        shutil.rmtree(cls.secrets, ignore_errors=True)

    def setUp(self):
        self.acs.clear()


class Content(AcsCase):
    """What the message becomes: every case of the issue, checked in the fake's record."""

    def test_plain_text_with_hmac_signature_and_repeatability_headers(self):
        send(self.relay, build("plain one", text="Hello,\r\nline two\r\n"), ["bob@example.com"])
        e = self.acs.wait_email("plain one")
        m = e["message"]
        self.assertEqual(m["senderAddress"], SENDER)
        self.assertEqual(m["content"]["plainText"], "Hello,\nline two\n")
        self.assertNotIn("html", m["content"])
        self.assertEqual(m["replyTo"], [{"address": "alice@example.org", "displayName": "Alice Sender"}])
        self.assertIs(m["userEngagementTrackingDisabled"], True)
        self.assertEqual(e["auth"], "hmac")
        self.assertEqual(e["api_version"], "2025-09-01")
        req = [r for r in self.acs.send_requests() if r.get("outcome") == "accepted"][-1]
        # The fake recomputed the signature and the content hash, and both matched.
        self.assertTrue(req["signature_ok"])
        self.assertTrue(req["content_hash_ok"])
        self.assertEqual(req["signed_host"], "127.0.0.1:%d" % self.acs.port)
        self.assertRegex(req["headers"]["authorization"], r"<redacted>")
        self.assertRegex(req["headers"]["x-ms-date"], r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")
        self.assertRegex(req["repeatability_id"], GUID)
        self.assertRegex(req["operation_id"], GUID)
        self.assertIsNotNone(email.utils.parsedate_to_datetime(req["first_sent"]))
        self.assertEqual(req["query"], "api-version=2025-09-01")
        # qmgr logs the delivery with ACS's words and the operation id.
        line = wait_for(lambda: sent_log(self.relay, "bob@example.com", e["operation_id"]), what="the log line")
        self.assertEqual(line.group(1), "250 2.0.0 202 Accepted operation-id=" + e["operation_id"])
        log = self.relay.relayctl("log", json_out=True)
        self.assertIn("operation-id=" + e["operation_id"], json.dumps(log))

    def test_html_and_text_alternative(self):
        send(self.relay, build("alt one", text="plain version\n", html="<p>html <b>version</b></p>\n"),
             ["bob@example.com"])
        m = self.acs.wait_email("alt one")["message"]
        self.assertEqual(m["content"]["plainText"], "plain version\n")
        self.assertEqual(m["content"]["html"], "<p>html <b>version</b></p>\n")
        self.assertNotIn("attachments", m)

    def test_quoted_printable_iso_8859_1(self):
        body = ("From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <juergen@example.org>\r\nTo: bob@example.com\r\n"
                "Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
                "\r\nSch=F6ne Gr=FC=DFe, 1 + 1 =3D 2, trailing space=20\r\n"
                "a soft=\r\n break\r\n")
        send(self.relay, body, ["bob@example.com"])
        m = self.acs.wait_email("Grüße aus Köln")["message"]
        self.assertEqual(m["content"]["plainText"], "Schöne Grüße, 1 + 1 = 2, trailing space \na soft break\n")
        self.assertEqual(m["replyTo"], [{"address": "juergen@example.org", "displayName": "Jürgen Müller"}])

    def test_binary_pdf_and_3mb_attachments(self):
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
        big = os.urandom(3 * 1024 * 1024)
        send(self.relay, build("files one", attachments=[(pdf, "application", "pdf", "report.pdf"),
                                                         (big, "application", "octet-stream", "big.bin")]),
             ["bob@example.com"])
        m = self.acs.wait_email("files one", 60)["message"]
        atts = m["attachments"]
        self.assertEqual([a["name"] for a in atts], ["report.pdf", "big.bin"])
        self.assertEqual([a["contentType"] for a in atts], ["application/pdf", "application/octet-stream"])
        self.assertEqual(base64.b64decode(atts[0]["contentInBase64"]), pdf)
        self.assertEqual(hashlib.sha256(base64.b64decode(atts[1]["contentInBase64"])).hexdigest(),
                         hashlib.sha256(big).hexdigest())
        self.assertFalse(any("contentId" in a for a in atts))

    def test_inline_image_by_cid(self):
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
        m = email.message.EmailMessage()
        m["From"] = "alice@example.org"
        m["To"] = "bob@example.com"
        m["Subject"] = "inline one"
        m.set_content("see the logo\n")
        m.add_alternative('<p>logo: <img src="cid:logo123@example.org"></p>\n', subtype="html")
        m.get_payload()[1].add_related(png, maintype="image", subtype="png", cid="<logo123@example.org>")
        send(self.relay, m.as_bytes(policy=email.policy.SMTP), ["bob@example.com"])
        got = self.acs.wait_email("inline one")["message"]
        self.assertIn('cid:logo123@example.org', got["content"]["html"])
        self.assertEqual(len(got["attachments"]), 1)
        a = got["attachments"][0]
        self.assertEqual(a["contentId"], "logo123@example.org")
        self.assertEqual(a["contentType"], "image/png")
        self.assertTrue(a["name"])  # made up: the part has no file name
        self.assertEqual(base64.b64decode(a["contentInBase64"]), png)

    def test_to_cc_and_envelope_only_bcc(self):
        body = build("rcpts one", to=["Bob <bob@example.com>"], cc=["Carol <carol@example.org>"])
        send(self.relay, body, ["bob@example.com", "carol@example.org", "hidden@example.net"])
        e = self.acs.wait_email("rcpts one")
        self.assertEqual(recipients_of(e), {"to": ["bob@example.com"], "cc": ["carol@example.org"],
                                            "bcc": ["hidden@example.net"]})
        self.assertEqual(e["message"]["recipients"]["to"][0]["displayName"], "Bob")
        self.assertEqual(e["message"]["recipients"]["cc"][0]["displayName"], "Carol")
        self.assertEqual(len(self.acs.send_requests()), 1)

    def test_header_only_recipient_is_not_sent_to(self):
        body = build("header only", to=["bob@example.com", "victim@example.com"],
                     cc=["other@example.org"], headers={"Bcc": "sneaky@example.org"})
        send(self.relay, body, ["bob@example.com"])
        e = self.acs.wait_email("header only")
        self.assertEqual(recipients_of(e), {"to": ["bob@example.com"], "cc": [], "bcc": []})
        self.assertNotIn("sneaky", json.dumps(e["message"]))

    def test_non_ascii_subject_and_display_names(self):
        body = build("Привет, 世界 — ünïcødé 🎉", to=["Zoë Ångström <zoe@example.com>"],
                     cc=["Łukasz Żółć <lukasz@example.org>"], sender="José Müller <jose@example.org>")
        send(self.relay, body, ["zoe@example.com", "lukasz@example.org"])
        m = self.acs.wait_email("Привет, 世界 — ünïcødé 🎉")["message"]
        self.assertEqual(m["recipients"]["to"], [{"address": "zoe@example.com", "displayName": "Zoë Ångström"}])
        self.assertEqual(m["recipients"]["cc"], [{"address": "lukasz@example.org", "displayName": "Łukasz Żółć"}])
        self.assertEqual(m["replyTo"], [{"address": "jose@example.org", "displayName": "José Müller"}])

    def test_existing_reply_to_and_x_headers(self):
        body = build("headers one", headers={"Reply-To": "Desk <desk@example.org>", "X-Ticket": "T-42",
                                             "X-MS-Exchange-Organization-SCL": "-1", "Importance": "high"})
        send(self.relay, body, ["bob@example.com"])
        m = self.acs.wait_email("headers one")["message"]
        self.assertEqual(m["replyTo"], [{"address": "desk@example.org", "displayName": "Desk"}])
        self.assertEqual(m["headers"], {"X-Ticket": "T-42"})

    def test_more_than_50_recipients_are_split(self):
        rcpts = ["r%03d@example.com" % i for i in range(75)]
        body = build("many one", to=rcpts[:30])
        with self.relay.smtp(timeout=120) as s:
            s.ehlo("client.example.org")
            s.mail("alice@example.org")
            for r in rcpts:
                code, _ = s.rcpt(r)
                self.assertEqual(code, 250)
            s.data(body)
        wait_for(lambda: self.acs.summary()["accepted"] >= 2, 30, 0.2, "two sends")
        time.sleep(0.5)
        emails = [e for e in self.acs.emails() if e["message"]["content"]["subject"] == "many one"]
        self.assertEqual(len(emails), 2)
        got = []
        for e in emails:
            r = recipients_of(e)
            self.assertLessEqual(sum(len(v) for v in r.values()), 50)
            got += r["to"] + r["cc"] + r["bcc"]
        self.assertEqual(sorted(got), sorted(rcpts))
        to_all = [a for e in emails for a in recipients_of(e)["to"]]
        self.assertEqual(sorted(to_all), sorted(rcpts[:30]))
        self.assertEqual(sorted(len(recipients_of(e)["to"] + recipients_of(e)["cc"] + recipients_of(e)["bcc"])
                                for e in emails), [25, 50])
        self.assertEqual(len({e["repeatability_id"] for e in emails}), 2)
        self.assertEqual(len({e["operation_id"] for e in emails}), 2)
        # The send log (relayctl log): every recipient sent, with its own request's operation id.
        def sent():
            entries = [x for x in self.relay.relayctl("log", json_out=True)["entries"]
                       if x["subject"] == "many one" and x["status"] == "sent"]
            return len(entries) == len(rcpts) and entries
        entries = wait_for(sent, 30, 0.5, "75 sent entries in the send log")
        op_of = {a: e["operation_id"] for e in emails for v in recipients_of(e).values() for a in v}
        for x in entries:
            self.assertEqual(x["backend"], "azure")
            self.assertRegex(x["reply"], r"^250 2\.0\.0 202 Accepted operation-id=%s operation-id=[0-9a-f-]+,[0-9a-f-]+$"
                             % op_of[x["to"]])


    def test_many_requests_in_flight_on_reused_connections(self):
        # Each send takes 1.5 s at ACS: eight messages at once must overlap, not queue.
        self.acs.configure(process_delay=1.5, process_delay_count=8)
        with self.relay.smtp(timeout=120) as s:
            s.ehlo("client.example.org")
            for i in range(8):
                s.sendmail("alice@example.org", ["bob@example.com"], build("burst %d" % i))
        wait_for(lambda: self.acs.summary()["accepted"] >= 8, 60, 0.2, "eight sends")
        snap = self.acs.call("GET", "/_requests")
        self.assertGreaterEqual(snap["max_inflight"], 4, "requests did not overlap")
        # Kept-alive connections are reused: five more sends open no new connection.
        burst_ports = {r["peer_port"] for r in self.acs.send_requests()}
        self.assertLessEqual(len(burst_ports), 8)
        self.acs.clear()
        for i in range(5):
            send(self.relay, build("reuse %d" % i), ["bob@example.com"])
            self.acs.wait_email("reuse %d" % i)
        ports = {r["peer_port"] for r in self.acs.send_requests()}
        self.assertEqual(len(self.acs.send_requests()), 5)
        self.assertLessEqual(ports, burst_ports)


class OldApiVersion(AcsCase):
    """api_version = 2023-03-31: no contentId there, so inline images travel as attachments."""

    azure = {"api_version": "2023-03-31"}

    def test_inline_image_becomes_a_plain_attachment(self):
        m = email.message.EmailMessage()
        m["From"] = "alice@example.org"
        m["To"] = "bob@example.com"
        m["Subject"] = "old inline"
        m.set_content("x\n")
        m.add_alternative('<img src="cid:pic@example.org">\n', subtype="html")
        m.get_payload()[1].add_related(b"GIF89a...", maintype="image", subtype="gif", cid="<pic@example.org>")
        send(self.relay, m.as_bytes(policy=email.policy.SMTP), ["bob@example.com"])
        e = self.acs.wait_email("old inline")
        self.assertEqual(e["api_version"], "2023-03-31")
        self.assertEqual(len(e["message"]["attachments"]), 1)
        self.assertNotIn("contentId", e["message"]["attachments"][0])


class Corpus(AcsCase):
    """The whole MIME corpus through the relay, compared field by field with manifest.json."""

    def test_every_corpus_message(self):
        with open(os.path.join(CORPUS, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        extra = "extra-bcc@example.net"
        for entry in manifest["messages"]:
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            env = entry["envelope"]
            send(self.relay, raw, env["rcpt_to"] + [extra], sender=env["mail_from"], eight_bit=entry["eight_bit"])
        n = len(manifest["messages"])
        wait_for(lambda: self.acs.summary()["accepted"] >= n, 120, 0.5, "%d accepted sends" % n)
        by_file = {}
        for e in self.acs.emails():
            by_file.setdefault(e["message"]["content"]["subject"], []).append(e)
        self.assertEqual(len(self.acs.emails()), n)
        for entry in manifest["messages"]:
            with self.subTest(entry["file"]):
                subject = entry["subject"] if entry["subject"] is not None else ""
                candidates = by_file.get(subject, [])
                # Two corpus files could share a subject: pick the one with this envelope.
                want_rcpts = sorted([a.lower() for a in entry["envelope"]["rcpt_to"]] + [extra])
                matches = [e for e in candidates
                           if sorted(a.lower() for v in recipients_of(e).values() for a in v) == want_rcpts]
                self.assertEqual(len(matches), 1, entry["file"])
                self.check(entry, matches[0])

    def check(self, entry, e):
        m = e["message"]
        content = m["content"]
        if entry["text"] is not None:
            self.assertEqual(content["plainText"], entry["text"])
        elif entry["html"] is None:
            self.assertEqual(content["plainText"], "")
        else:
            self.assertNotIn("plainText", content)
        if entry["html"] is not None:
            self.assertEqual(content["html"], entry["html"])
        else:
            self.assertNotIn("html", content)
        self.assertEqual(m["senderAddress"], SENDER)
        # Recipients: To header ones in to, Cc in cc, everyone else (incl. the extra) in bcc.
        to_hdr = {a["address"].lower() for a in entry["to"]}
        cc_hdr = {a["address"].lower() for a in entry["cc"]} - to_hdr
        r = recipients_of(e)
        for field, addrs in r.items():
            for a in addrs:
                want = "to" if a.lower() in to_hdr else "cc" if a.lower() in cc_hdr else "bcc"
                self.assertEqual(field, want, a)
        names = {a["address"].lower(): a["name"] for a in entry["to"] + entry["cc"]}
        for field in ("to", "cc"):
            for rec in m["recipients"].get(field, []):
                self.assertEqual(rec.get("displayName", ""), names[rec["address"].lower()])
        reply = entry["reply_to"] or entry["from"]
        self.assertEqual([(x["address"], x.get("displayName", "")) for x in m.get("replyTo", [])],
                         [(x["address"], x["name"]) for x in reply])
        atts = m.get("attachments", [])
        self.assertEqual(len(atts), len(entry["attachments"]))
        for got, want in zip(atts, entry["attachments"]):
            data = base64.b64decode(got["contentInBase64"])
            self.assertEqual(hashlib.sha256(data).hexdigest(), want["sha256"])
            self.assertEqual(len(data), want["size"])
            self.assertEqual(got["contentType"], want["content_type"])
            if want["filename"] is not None:
                self.assertEqual(got["name"], want["filename"])
            else:
                self.assertTrue(got["name"])
            if want["inline"]:
                self.assertEqual(got.get("contentId"), want["content_id"])
            else:
                self.assertNotIn("contentId", got)
        want_headers = {k: v for k, v in entry["custom_headers"]
                        if k.lower().startswith("x-") and not k.lower().startswith("x-ms-")}
        self.assertEqual(m.get("headers", {}), want_headers)


class Failures(AcsCase):
    """ACS's error answers: what is retried, what bounces, what is a configuration error."""

    # The key file holds the connection-string form here.
    key = "endpoint=https://contoso.communication.azure.com/;accesskey=" + ACCESS_KEY

    def test_429_with_retry_after_then_success(self):
        self.acs.fault(path="/emails:send", count=1, status=429, headers={"Retry-After": "3"},
                       body={"error": {"code": "TooManyRequests", "message": "Rate limit exceeded."}})
        start = time.monotonic()
        send(self.relay, build("throttled one"), ["bob@example.com"])
        self.acs.wait_email("throttled one", 40)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 2.5)  # Retry-After honoured, not retry_delay (1 s)
        statuses = [r["status"] for r in self.acs.send_requests()]
        self.assertEqual(statuses, [429, 202])
        log = self.relay.log()
        self.assertRegex(log, r"backend is throttling; pausing deliveries to it backend=azure retry_after=3")
        self.assertRegex(log, r"to=<bob@example.com> backend=azure .*status=deferred \(451 4\.4\.5 ACS answered 429 "
                              r"TooManyRequests: Rate limit exceeded\.")

    def test_500_and_connection_reset_are_retried(self):
        self.acs.fault(path="/emails:send", count=1, status=500)
        self.acs.fault(path="/emails:send", count=1, reset=True)
        send(self.relay, build("flaky one"), ["bob@example.com"])
        self.acs.wait_email("flaky one", 40)
        self.assertEqual([r["status"] for r in self.acs.send_requests()], [500, 0, 202])
        ids = {r["repeatability_id"] for r in self.acs.send_requests() if r.get("repeatability_id")}
        self.assertLessEqual(len(ids), 1)  # every retry repeats the same request id
        # The key file holds a connection string naming another endpoint: [azure] endpoint wins.
        self.assertIn("names endpoint https://contoso.communication.azure.com", self.relay.log())

    def test_400_bounces_with_a_dsn_to_the_sender(self):
        self.acs.fault(path="/emails:send", count=1, status=400,
                       body={"error": {"code": "InvalidAttachment",
                                       "message": "Attachment content type is not allowed."}})
        before = len(self.relay.outbox_files())
        send(self.relay, build("bounce one", sender="Alice <%s>" % DSN_SENDER), ["bob@example.com"],
             sender=DSN_SENDER)
        files = wait_for(lambda: len(self.relay.outbox_files()) > before and self.relay.outbox_files(), 30,
                         what="the DSN in the outbox")
        dsn = b"".join(self.relay.read(f) for f in files).decode("utf-8", "replace")
        self.assertIn("bob@example.com", dsn)
        self.assertIn("Attachment content type is not allowed.", dsn)
        self.assertRegex(dsn, r"Status: 5\.6\.0")
        self.assertRegex(self.relay.log(), r"to=<bob@example.com> backend=azure .*status=bounced \(554 5\.6\.0 "
                                           r"ACS answered 400 InvalidAttachment")
        self.assertEqual(len(self.acs.send_requests()), 1)  # not retried

    def test_message_over_10mb_bounces_before_sending(self):
        big = os.urandom(8 * 1024 * 1024)  # 10.7 MB once base64 in the request
        before = len(self.relay.outbox_files())
        send(self.relay, build("huge one", sender=DSN_SENDER, attachments=[(big, "application", "zip", "a.zip")]),
             ["bob@example.com"], sender=DSN_SENDER)
        wait_for(lambda: len(self.relay.outbox_files()) > before, 60, what="the DSN")
        self.assertRegex(self.relay.log(), r"to=<bob@example.com> backend=azure .*status=bounced \(552 5\.3\.4 "
                                           r"message too large for ACS")
        self.assertEqual(self.acs.send_requests(), [])

    def test_wrong_key_is_deferred_not_bounced_and_logged_loudly(self):
        self.acs.configure(access_key=WRONG_KEY)
        try:
            send(self.relay, build("wrong key one", to=["keytest@example.com"]), ["keytest@example.com"])
            wait_for(lambda: len(self.acs.send_requests()) >= 2, 30, what="two refused attempts")
            reqs = self.acs.send_requests()
            self.assertTrue(all(r["status"] == 401 for r in reqs))
            self.assertEqual(reqs[0]["auth_error"], "signature mismatch")
            log = self.relay.log()
            self.assertIn("CONFIGURATION ERROR talking to ACS: ACS answered 401 Denied", log)
            self.assertRegex(log, r"to=<keytest@example.com> backend=azure .*status=deferred \(451 4\.7\.0 ")
            self.assertNotRegex(log, r"to=<keytest@example.com> backend=azure .*status=bounced")
            listing = self.relay.relayctl("list", json_out=True)
            self.assertIn("401", json.dumps(listing))
        finally:
            self.acs.configure(access_key=ACCESS_KEY)
        # Once the key is right again the deferred message goes out.
        self.relay.relayctl("flush")
        self.acs.wait_email("wrong key one", 30)

    def test_403_is_deferred_as_a_configuration_error(self):
        self.acs.fault(path="/emails:send", count=1, status=403,
                       body={"error": {"code": "Forbidden", "message": "The principal lacks a role."}})
        send(self.relay, build("forbidden one", to=["role@example.com"]), ["role@example.com"])
        self.acs.wait_email("forbidden one", 30)
        self.assertRegex(self.relay.log(), r"to=<role@example.com> backend=azure .*status=deferred \(451 4\.7\.0 ACS "
                                           r"answered 403 Forbidden: The principal lacks a role\.")

    def test_hang_times_out_and_is_retried(self):
        self.acs.fault(path="/emails:send", count=1, hang=True)
        send(self.relay, build("hang one"), ["bob@example.com"])
        self.acs.wait_email("hang one", 40)
        self.assertRegex(self.relay.log(), r"to=<bob@example.com> backend=azure .*status=deferred \(451 4\.4\.2 "
                                           r"ACS did not answer in time")


class Repeatability(AcsCase):
    """ACS's repeatable requests: a retry after an ambiguous timeout does not send twice."""

    acs_args = ("--window", "300")

    def test_409_while_in_progress_then_replayed_202_sends_once(self):
        # The first send takes 8 s at ACS; the agent gives up after 5 s (timeout) and retries
        # while ACS still works on it.
        self.acs.configure(process_delay=8, process_delay_count=1)
        send(self.relay, build("slow one"), ["bob@example.com"])
        e = self.acs.wait_email("slow one", 40)
        wait_for(lambda: sent_log(self.relay, "bob@example.com"), 40, what="the delivery")
        reqs = self.acs.send_requests()
        outcomes = [r.get("outcome") for r in reqs]
        self.assertIn("in_progress", outcomes)
        self.assertEqual(outcomes.count("accepted"), 1)
        self.assertEqual([x for x in self.acs.emails() if x["message"]["content"]["subject"] == "slow one"], [e])
        self.assertEqual({r["repeatability_id"] for r in reqs}, {e["repeatability_id"]})
        self.assertEqual(len({r["first_sent"] for r in reqs}), 1)
        log = self.relay.log()
        self.assertRegex(log, r"status=deferred \(451 4\.4\.2 ACS did not answer in time")
        self.assertRegex(log, r"status=deferred \(451 4\.4\.0 ACS answered 409 Conflict")
        # The answer that finally delivered it is the replayed original.
        if outcomes[-1] == "duplicate":
            self.assertEqual(reqs[-1]["duplicate_of"], e["operation_id"])
        self.assertEqual(sent_log(self.relay, "bob@example.com").group(1),
                         "250 2.0.0 202 Accepted operation-id=" + e["operation_id"])

    def test_duplicate_request_is_answered_from_the_first(self):
        # ACS accepted it but the answer was lost (the fake sleeps 6 s, the agent waits 5 s);
        # the retry, after the original finished, gets the original 202 back.
        self.acs.configure(process_delay=6, process_delay_count=1)
        send(self.relay, build("lost answer one", to=["carol@example.com"]), ["carol@example.com"])
        wait_for(lambda: sent_log(self.relay, "carol@example.com"), 40, what="the delivery")
        emails = [x for x in self.acs.emails() if x["message"]["content"]["subject"] == "lost answer one"]
        self.assertEqual(len(emails), 1)
        outcomes = [r.get("outcome") for r in self.acs.send_requests()]
        self.assertEqual(outcomes.count("accepted"), 1)
        self.assertEqual(outcomes[-1], "duplicate")

    def test_412_outside_the_window_is_resent_with_a_fresh_first_sent(self):
        self.acs.configure(window=2)
        try:
            # The first attempt fails slowly (after 3 s), so the retry is outside the window.
            self.acs.fault(path="/emails:send", count=1, delay=3, status=500)
            send(self.relay, build("window one", to=["dave@example.com"]), ["dave@example.com"])
            e = self.acs.wait_email("window one", 40)
        finally:
            self.acs.configure(window=300)
        reqs = self.acs.send_requests()
        self.assertEqual([r["status"] for r in reqs], [500, 412, 202])
        # (The 500 came from the fault injector, before the fake read the headers: use the record.)
        self.assertEqual(len({r["headers"]["repeatability-request-id"] for r in reqs}), 1)
        first_sent = [r["headers"]["repeatability-first-sent"] for r in reqs]
        self.assertEqual(first_sent[0], first_sent[1])
        self.assertGreater(email.utils.parsedate_to_datetime(first_sent[2]),
                           email.utils.parsedate_to_datetime(first_sent[1]))
        self.assertEqual({r["headers"]["operation-id"] for r in reqs}, {e["operation_id"]})
        self.assertIn("ACS answered 412", self.relay.log())
        self.assertIn("sending again with a fresh Repeatability-First-Sent", self.relay.log())


class Partial(AcsCase):
    """A message whose recipients went out in two requests, one of them throttled: relayctl
    show has the operation id for the delivered half while the rest waits."""

    def test_relayctl_show_has_the_operation_id(self):
        self.acs.fault(path="/emails:send", count=1, status=429, headers={"Retry-After": "120"},
                       body={"error": {"code": "TooManyRequests", "message": "slow down"}})
        rcpts = ["p%02d@example.com" % i for i in range(60)]
        with self.relay.smtp(timeout=60) as s:
            s.ehlo("client.example.org")
            s.mail("alice@example.org")
            for r in rcpts:
                s.rcpt(r)
            code, reply = s.data(build("partial one", to=rcpts[:5]))
        qid = re.search(r"queued as (\w+)", reply.decode()).group(1)
        e = self.acs.wait_email("partial one")

        def shown():
            m = self.relay.relayctl("show", qid, json_out=True)
            states = {r["state"] for r in m["recipients"]}
            return "delivered" in states and "pending" in states and m
        m = wait_for(shown, 30, 0.2, "half delivered, half deferred")
        self.assertEqual(m["state"], "deferred")
        delivered = [r for r in m["recipients"] if r["state"] == "delivered"]
        deferred = [r for r in m["recipients"] if r["state"] == "pending"]
        self.assertEqual(len(delivered) + len(deferred), 60)
        self.assertEqual(sorted(r["address"] for r in delivered), sorted(recipients_of(e)["to"] +
                                                                         recipients_of(e)["bcc"]))
        for r in delivered:
            self.assertEqual(r["info"], "operation-id=" + e["operation_id"])
        for r in deferred:
            self.assertIn("429", r["last_error"])
        text = self.relay.relayctl("show", qid).stdout
        self.assertIn("operation-id=" + e["operation_id"], text)
        self.relay.relayctl("delete", qid)


class Polling(AcsCase):
    """poll_status = yes: the operation is followed; Failed turns into a bounce."""

    azure = {"poll_status": "yes"}

    def test_succeeded_operation(self):
        send(self.relay, build("poll one"), ["bob@example.com"])
        e = self.acs.wait_email("poll one")
        line = wait_for(lambda: sent_log(self.relay, "bob@example.com"), 30, what="the delivery")
        self.assertEqual(line.group(1), "250 2.0.0 202 Accepted, Succeeded operation-id=" + e["operation_id"])
        polls = [r for r in self.acs.requests() if r["path"].startswith("/emails/operations/")]
        self.assertGreaterEqual(len(polls), 1)
        self.assertEqual(polls[-1]["auth"], "hmac")
        self.assertTrue(polls[-1]["signature_ok"])

    def test_failed_operation_bounces_with_a_dsn(self):
        before = len(self.relay.outbox_files())
        send(self.relay, build("poll drop", to=["dropped.user@example.com"], sender=DSN_SENDER),
             ["dropped.user@example.com"], sender=DSN_SENDER)
        wait_for(lambda: len(self.relay.outbox_files()) > before, 30, what="the DSN")
        self.assertRegex(self.relay.log(), r"to=<dropped.user@example.com> backend=azure .*status=bounced "
                                           r"\(550 5\.0\.0 ACS operation \S+ Failed: EmailDropped")


class Entra(unittest.TestCase):
    """An Entra ID service principal instead of the key: tokens, expiry, refresh after 401."""

    @classmethod
    def setUpClass(cls):
        cls.secrets = tempfile.mkdtemp(prefix="mailrelay-azure-secrets-")
        os.chmod(cls.secrets, 0o755)
        cls.entra = FakeService("entra_fake.py", "--client", "%s:%s:%s" % (TENANT, CLIENT, SECRET),
                                "--expires-in", "3599")
        cls.acs = Acs("--tenant", TENANT)
        secret = write_secret(cls.secrets, "client.secret", SECRET)
        cls.relay = Relay(sections={
            "policy": {"recipient_domains": "example.com, example.org"},
            "route": {"default": "azure"},
            "azure": {"endpoint": cls.acs.url, "tenant_id": TENANT, "client_id": CLIENT,
                      "client_secret_file": secret, "authority": cls.entra.url, "sender": SENDER,
                      "ca_file": pki()["ca"], "timeout": "5s"},
            "queue": {"retry_delay": "1s", "max_retry_delay": "2s"},
        }, name="azure-entra")
        cls.relay.start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.cleanup()
        cls.acs.stop()
        cls.entra.stop()
        shutil.rmtree(cls.secrets, ignore_errors=True)

    def issued(self):
        return self.entra.call("GET", "/_requests").get("issued_by_tenant", {}).get(TENANT, 0)

    def test_token_is_fetched_once_with_the_acs_scope_and_reused(self):
        self.entra.call("DELETE", "/_requests")
        self.entra.call("POST", "/_config", {"expires_in": 3599})
        self.acs.configure(revoke_tokens=True)  # start from a fresh token
        time.sleep(1.1)
        send(self.relay, build("entra one"), ["bob@example.com"])
        send(self.relay, build("entra two"), ["bob@example.com"])
        e1 = self.acs.wait_email("entra one")
        self.acs.wait_email("entra two")
        self.assertEqual(e1["auth"], "bearer")
        reqs = self.entra.call("GET", "/_requests")["requests"]
        self.assertEqual(self.issued(), 1, reqs)
        self.assertEqual(reqs[0]["scope"], "https://communication.azure.com//.default")
        self.assertEqual(reqs[0]["client_id"], CLIENT)
        self.assertNotIn(SECRET, json.dumps(reqs))
        self.assertNotIn(SECRET, self.relay.log())

    def test_expired_token_is_refreshed_before_use(self):
        self.entra.call("POST", "/_config", {"expires_in": 2})
        try:
            self.acs.configure(revoke_tokens=True)  # whatever the agent holds is refused now
            time.sleep(1.1)
            self.entra.call("DELETE", "/_requests")
            self.acs.clear()
            send(self.relay, build("expiry one"), ["bob@example.com"])
            self.acs.wait_email("expiry one")
            time.sleep(2.5)  # the 2-second token has expired
            send(self.relay, build("expiry two"), ["bob@example.com"])
            self.acs.wait_email("expiry two")
        finally:
            self.entra.call("POST", "/_config", {"expires_in": 3599})
        statuses = [r["status"] for r in self.acs.send_requests()]
        # A token cached from an earlier test may be refused once; an expired one never is.
        self.assertIn(statuses, ([202, 202], [401, 202, 202]))
        self.assertEqual(self.issued(), 2)

    def test_refused_token_is_refreshed_once_after_401(self):
        send(self.relay, build("refresh zero"), ["bob@example.com"])
        self.acs.wait_email("refresh zero")
        self.entra.call("DELETE", "/_requests")
        self.acs.clear()
        self.acs.configure(revoke_tokens=True)  # ACS no longer takes the cached token
        time.sleep(1.1)
        send(self.relay, build("refresh one"), ["bob@example.com"])
        self.acs.wait_email("refresh one")
        self.assertEqual([r["status"] for r in self.acs.send_requests()], [401, 202])
        self.assertEqual(self.issued(), 1)
        self.assertIn("ACS refused the access token (401); fetching a new one", self.relay.log())

    def test_wrong_secret_is_deferred_not_bounced(self):
        self.entra.call("DELETE", "/_requests")
        self.entra.call("POST", "/_config", {"client": "%s:%s:%s" % (TENANT, CLIENT, "rotated")})
        self.acs.configure(revoke_tokens=True)
        time.sleep(1.1)
        try:
            send(self.relay, build("secret one", to=["eve@example.com"]), ["eve@example.com"])
            wait_for(lambda: re.search(r"to=<eve@example.com> backend=azure .*status=deferred \(451 4\.7\.0 Entra ID "
                                       r"token: token endpoint answered 401: invalid_client", self.relay.log()),
                     30, what="the deferral")
            self.assertIn("CONFIGURATION ERROR", self.relay.log())
            self.assertNotRegex(self.relay.log(), r"to=<eve@example.com> .*status=bounced")
        finally:
            self.entra.call("POST", "/_config", {"client": "%s:%s:%s" % (TENANT, CLIENT, SECRET)})


if __name__ == "__main__":
    unittest.main()
