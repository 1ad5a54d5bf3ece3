"""deliver-ses: Amazon SES v2 raw sending with SigV4 and the AWS credential chain (issue 8).

The real mailrelayd with [route] default = ses sends to tests/fakes/ses_fake.py over HTTPS
(test CA), which recomputes every SigV4 signature with botocore, checks session tokens,
validates the SendEmail JSON and the raw message as SES does, and records what it decoded.
Credentials come from each source of the chain, with fakes for EC2 IMDSv2, the ECS container
endpoint and STS AssumeRoleWithWebIdentity. The sender's domain (example.org) is routed to
`file`, so bounces (DSNs) land in the outbox.

Run with Debian's interpreter: /usr/bin/python3 -m unittest -v test_deliver_ses
"""
import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import os
import pwd
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from harness import IS_ROOT, SOURCE_DIR, Relay, pki, queue_id_from, wait_for

FAKES = os.path.join(SOURCE_DIR, "tests", "fakes")
sys.path.insert(0, FAKES)
import aws_creds  # noqa: E402

PY = "/usr/bin/python3"
CORPUS = os.path.join(SOURCE_DIR, "tests", "data", "mime")
AKID = "AKIAMAILRELAYTEST01"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
AGENT_USER = "mailrelay-deliver"

# Every variable the agent's chain reads: blanked for each relay so the tests are hermetic
# (the harness passes its own environment on; "" counts as unset).
AWS_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "MAILRELAY_AWS_CONTAINER_ENDPOINT",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SESV2", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"]


# --- fakes ------------------------------------------------------------------------------

class Fake:
    """One fake from tests/fakes on an ephemeral loopback port, stopped by stop()."""

    def __init__(self, script, args=(), plain=False):
        self.dir = tempfile.mkdtemp(prefix="mailrelay-%s-" % script.split(".")[0])
        os.chmod(self.dir, 0o755)
        self.plain = plain
        self.record = os.path.join(self.dir, "record.json")
        port_file = os.path.join(self.dir, "port")
        cmd = [PY, os.path.join(FAKES, script), "--port-file", port_file, "--record", self.record,
               "--exit-on-stdin-eof"]
        cmd += ["--plain"] if plain else ["--cert-dir", pki()["dir"]]
        self.log = open(os.path.join(self.dir, "fake.log"), "wb")
        self.proc = subprocess.Popen(cmd + list(args), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self.log)

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited: %s" % (script, open(self.log.name).read()))
            try:
                with open(port_file) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.port = wait_for(port, 30, what=script + " to start")

    def url(self, path=""):
        return "%s://127.0.0.1:%d%s" % ("http" if self.plain else "https", self.port, path)

    def snapshot(self):
        with open(self.record) as f:
            return json.load(f)

    def requests(self):
        return self.snapshot()["requests"]

    def post(self, path, obj):
        ctx = None if self.plain else ssl.create_default_context(cafile=pki()["ca"])
        req = urllib.request.Request(self.url(path), data=json.dumps(obj).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return json.load(resp)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()
        if not os.environ.get("MAILRELAY_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)


class SesFake(Fake):
    def __init__(self, args=()):
        self.saved = tempfile.mkdtemp(prefix="mailrelay-ses-saved-")
        super().__init__("ses_fake.py", ["--credential", "%s:%s" % (AKID, SECRET), "--save-dir", self.saved]
                         + list(args))

    def outcomes(self):
        return [r.get("outcome") for r in self.requests()]

    def sent(self):
        return [r for r in self.requests() if r.get("outcome") == "sent"]

    def wait_sent(self, n, timeout=30):
        return wait_for(lambda: len(self.sent()) >= n and self.sent(), timeout,
                        what="%d message(s) accepted by the SES fake (outcomes so far: %s)" % (n, self.outcomes()))

    def raw(self, record):
        with open(record["raw_file"], "rb") as f:
            return f.read()

    def stop(self):
        super().stop()
        shutil.rmtree(self.saved, ignore_errors=True)


def agent_owned(path, mode=0o600):
    """The file as the agent's user may read it: owned by it when the relay drops privileges."""
    os.chmod(path, mode)
    if IS_ROOT:
        pw = pwd.getpwnam(AGENT_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def write_file(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# --- relays -----------------------------------------------------------------------------

class SesTestCase(unittest.TestCase):
    """Starts SES relays and fakes and stops them at the end of each test."""

    def setUp(self):
        self.stack = contextlib.ExitStack()

    def tearDown(self):
        self.stack.close()

    def ses_fake(self, args=()):
        fake = SesFake(args)
        self.stack.callback(fake.stop)
        return fake

    def fake(self, script, args=(), plain=False):
        fake = Fake(script, args, plain)
        self.stack.callback(fake.stop)
        return fake

    def relay(self, ses, ses_keys=None, env=None, static=True, sections=None, start=True):
        """A relay whose [route] default is ses (example.org goes to file, for the DSNs)."""
        ses_section = {"endpoint": ses.url(), "ca_file": pki()["ca"], "region": "us-east-1", "timeout": "10s"}
        secs = {"route": {"default": "ses", "example.org": "file"},
                "policy": {"recipient_domains": "example.com, example.org, example.net, test.example"},
                "ses": ses_section}
        for sec, keys in (sections or {}).items():
            secs.setdefault(sec, {}).update(keys)
        r = Relay(sections=secs, name="ses")
        self.stack.callback(r.cleanup)
        if static:
            secret = os.path.join(r.dir, "ses-secret")
            write_file(secret, SECRET + "\n", 0o600)
            r.sections["ses"].update({"access_key_id": AKID, "secret_access_key_file": secret})
        r.sections["ses"].update(ses_keys or {})
        r.write_config()
        e = {k: "" for k in AWS_VARS}
        e.update({"AWS_SHARED_CREDENTIALS_FILE": os.path.join(r.dir, "no-aws-credentials"),
                  "AWS_CONFIG_FILE": os.path.join(r.dir, "no-aws-config"),
                  "AWS_EC2_METADATA_DISABLED": "true"})
        e.update(env or {})
        r.env = e
        if start:
            r.start(env=e)
        return r

    def send(self, r, rcpts=("rcpt@example.com",), sender="sender@example.org", body=None, subject="test",
             mail_options=()):
        if body is None:
            body = ("From: Sender <%s>\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n\r\nhello\r\n"
                    % (sender, ", ".join(rcpts), subject))
        if isinstance(body, str):
            body = body.encode()
        with r.smtp() as s:
            s.ehlo("client.example.org")
            s.mail(sender, list(mail_options))
            for rc in rcpts:
                code, msg = s.rcpt(rc)
                self.assertEqual(code, 250, msg)
            code, msg = s.data(body)
            self.assertEqual(code, 250, msg)
            return queue_id_from(msg.decode())

    def wait_log(self, r, pattern, timeout=30):
        return wait_for(lambda: re.search(pattern, r.log()), timeout, what="log line %r" % pattern)


# --- credential sources -----------------------------------------------------------------

class Credentials(SesTestCase):
    def test_static_keys_signed_and_message_id_logged(self):
        ses = self.ses_fake()
        r = self.relay(ses)
        qid = self.send(r, subject="static")
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["access_key_id"], AKID)
        self.assertFalse(rec["session_token"])
        self.assertEqual(rec["from_email_address"], "sender@example.org")
        self.assertEqual(rec["destination"], {"ToAddresses": ["rcpt@example.com"]})
        # botocore signs content-type;host;x-amz-date; so does the agent.
        self.assertIn("SignedHeaders=content-type;host;x-amz-date,", rec["headers"]["authorization"])
        self.assertEqual(rec["headers"]["content-type"], "application/json")
        mid = rec["message_id"]
        self.wait_log(r, re.escape(qid) + r": to=<rcpt@example.com> backend=ses .*status=sent \(250 2\.0\.0 "
                      r"accepted by SES ses-message-id=" + re.escape(mid) + r"\)")
        log = r.relayctl("log", json_out=True)
        self.assertIn(mid, json.dumps(log))
        # The raw message is the queued one: mailrelay's Received: on top.
        raw = ses.raw(rec)
        self.assertTrue(raw.startswith(b"Received: from client.example.org"), raw[:100])
        self.assertTrue(raw.endswith(b"\r\n\r\nhello\r\n"))

    def test_environment_session_token_on_the_wire(self):
        ses = self.ses_fake()
        c = aws_creds.issue(aws_creds.DEFAULT_KEY, 3600, "test-env")
        r = self.relay(ses, static=False, env={"AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                                               "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                                               "AWS_SESSION_TOKEN": c["Token"]})
        self.send(r)
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["access_key_id"], c["AccessKeyId"])
        self.assertTrue(rec["session_token"])
        self.assertEqual(rec["headers"]["x-amz-security-token"], c["Token"])
        self.assertIn("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,",
                      rec["headers"]["authorization"])
        self.assertRegex(r.log(), r"using AWS credentials from environment")

    def test_shared_credentials_file_with_aws_profile(self):
        ses = self.ses_fake()
        r = self.relay(ses, static=False, start=False)
        path = write_file(os.path.join(r.dir, "aws-credentials"),
                          "# made by a test\n[default]\naws_access_key_id = AKIAWRONGDEFAULT00\n"
                          "aws_secret_access_key = nope\n\n[prod]\naws_access_key_id = %s\n"
                          "aws_secret_access_key = %s ; inline comment\nregion = eu-west-1\n"
                          "s3 =\n  max_concurrent_requests = 20\n" % (AKID, SECRET), 0o600)
        agent_owned(path)
        r.env.update({"AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "prod"})
        r.start(env=r.env)
        self.send(r)
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["access_key_id"], AKID)
        self.assertRegex(r.log(), r"source=\"?profile prod in " + re.escape(path))

    def test_config_file_profile(self):
        ses = self.ses_fake()
        r = self.relay(ses, static=False, start=False)
        path = write_file(os.path.join(r.dir, "aws-config"),
                          "[default]\nregion = us-east-1\n[profile mail]\naws_access_key_id=%s\n"
                          "aws_secret_access_key=%s\n" % (AKID, SECRET), 0o600)
        agent_owned(path)
        r.env.update({"AWS_CONFIG_FILE": path, "AWS_PROFILE": "mail"})
        r.start(env=r.env)
        self.send(r)
        self.assertEqual(ses.wait_sent(1)[0]["access_key_id"], AKID)

    def test_world_readable_credentials_file_is_refused_and_mail_waits(self):
        ses = self.ses_fake()
        r = self.relay(ses, static=False, start=False)
        path = write_file(os.path.join(r.dir, "aws-credentials"),
                          "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (AKID, SECRET), 0o644)
        r.env.update({"AWS_SHARED_CREDENTIALS_FILE": path})
        r.start(env=r.env)
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": to=<rcpt@example.com> backend=ses .*status=deferred \(451 4\.7\.0 no usable "
                      r"AWS credentials: .*readable by group or others")
        self.assertRegex(r.log(), r"deliver-ses\[\d+\]: error: " + re.escape(qid) + r": no usable AWS credentials")
        self.assertEqual(ses.requests(), [])
        # Fixed on disk: the next attempt reads the file again and delivers.
        agent_owned(path, 0o600)
        ses.wait_sent(1)

    def test_no_credentials_anywhere_defers_loudly(self):
        ses = self.ses_fake()
        r = self.relay(ses, static=False)
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": .*status=deferred \(451 4\.7\.0 no usable AWS credentials: no AWS "
                      r"credentials found \(")
        self.assertRegex(r.log(), r"AWS_EC2_METADATA_DISABLED is true")
        self.assertEqual(ses.requests(), [])

    def test_wrong_secret_is_deferred_and_logged_loudly(self):
        ses = self.ses_fake()
        r = self.relay(ses, start=False)
        write_file(os.path.join(r.dir, "ses-secret"), "not-the-secret\n", 0o600)
        r.start(env=r.env)
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": .*status=deferred \(451 4\.7\.0 SES answered 403 SignatureDoesNotMatch: "
                      r"The request signature we calculated")
        self.assertRegex(r.log(), r"error: " + re.escape(qid) + r": ses_error=SignatureDoesNotMatch \(SES needs an "
                         r"operator: .*check the AWS credentials")
        state = r.relayctl("list", json_out=True)
        self.assertIn("SignatureDoesNotMatch", json.dumps(state))


class InstanceRoles(SesTestCase):
    def test_imdsv2_credentials_expire_and_are_refreshed(self):
        ses = self.ses_fake()
        # 304 s: fresh for 4 s, then inside the 5-minute refresh window.
        imds = self.fake("imds_fake.py", ["--role", "relay-role", "--expires-in", "304"], plain=True)
        r = self.relay(ses, static=False, env={"AWS_EC2_METADATA_DISABLED": "",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url()})
        self.send(r, subject="first")
        first = ses.wait_sent(1)[0]
        self.assertTrue(first["session_token"])
        self.assertEqual(first["token_issuer"], "imds")
        reqs = imds.requests()
        self.assertEqual([q["kind"] for q in reqs], ["token", "list", "credentials"])
        self.assertEqual(reqs[0]["method"], "PUT")
        self.assertEqual(reqs[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"], "21600")
        self.assertTrue(all(q["token_ok"] for q in reqs[1:]))
        self.assertEqual(first["access_key_id"], reqs[2]["issued_access_key_id"])

        self.send(r, subject="second, same keys")
        second = ses.wait_sent(2)[1]
        self.assertEqual(second["access_key_id"], first["access_key_id"])
        self.assertEqual(len(imds.requests()), 3)  # cached

        time.sleep(4.5)
        self.send(r, subject="third, refreshed keys")
        third = ses.wait_sent(3)[2]
        self.assertNotEqual(third["access_key_id"], first["access_key_id"])
        kinds = [q["kind"] for q in imds.requests()]
        self.assertEqual(kinds, ["token", "list", "credentials", "list", "credentials"])  # token reused
        self.assertEqual(third["access_key_id"], imds.requests()[4]["issued_access_key_id"])

    def test_imds_token_rejected_is_fetched_again(self):
        ses = self.ses_fake()
        imds = self.fake("imds_fake.py", ["--expires-in", "304"], plain=True)
        r = self.relay(ses, static=False, env={"AWS_EC2_METADATA_DISABLED": "",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url()})
        self.send(r)
        ses.wait_sent(1)
        imds.post("/_config", {"expire_tokens": True})
        time.sleep(4.5)
        self.send(r)
        ses.wait_sent(2)
        kinds = [(q["kind"], q["status"]) for q in imds.requests()]
        self.assertEqual(kinds[3:], [("list", 401), ("token", 200), ("list", 200), ("credentials", 200)])

    def test_credentials_about_to_expire_are_never_used(self):
        ses = self.ses_fake()
        imds = self.fake("imds_fake.py", ["--expires-in", "30"], plain=True)
        r = self.relay(ses, static=False, env={"AWS_EC2_METADATA_DISABLED": "",
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url()})
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": .*status=deferred \(451 4\.7\.0 no usable AWS credentials: EC2 instance "
                      r"metadata \(role mailrelay-role\) handed out credentials that expire at .*too soon to use")
        self.assertEqual(ses.requests(), [])
        imds.post("/_config", {"expires_in": 3600})
        ses.wait_sent(1, timeout=40)

    def test_ecs_relative_uri_with_authorization_token(self):
        ses = self.ses_fake()
        ecs = self.fake("ecs_fake.py", ["--path", "/v2/credentials/task-1", "--auth-token", "ecs-secret-token"],
                        plain=True)
        r = self.relay(ses, static=False, env={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-1",
                                               "MAILRELAY_AWS_CONTAINER_ENDPOINT": ecs.url(),
                                               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-secret-token"})
        self.send(r)
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["token_issuer"], "ecs")
        (get,) = ecs.requests()
        self.assertTrue(get["auth_ok"])
        self.assertEqual(get["headers"]["accept"], "application/json")
        self.assertEqual(rec["access_key_id"], get["issued_access_key_id"])

    def test_ecs_full_uri_with_token_file(self):
        ses = self.ses_fake()
        ecs = self.fake("ecs_fake.py", ["--path", "/creds", "--auth-token", "from-a-file"], plain=True)
        r = self.relay(ses, static=False, start=False)
        token = write_file(os.path.join(r.dir, "ecs-token"), "from-a-file\n", 0o644)
        r.env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": ecs.url("/creds"),
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token})
        r.start(env=r.env)
        self.send(r)
        ses.wait_sent(1)
        self.assertTrue(ecs.requests()[0]["auth_ok"])

    def test_ecs_wrong_token_defers(self):
        ses = self.ses_fake()
        ecs = self.fake("ecs_fake.py", ["--path", "/creds", "--auth-token", "right"], plain=True)
        r = self.relay(ses, static=False, env={"AWS_CONTAINER_CREDENTIALS_FULL_URI": ecs.url("/creds"),
                                               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong"})
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": .*status=deferred \(451 4\.7\.0 no usable AWS credentials: container "
                      r"credentials at .* answered 401 AccessDeniedException")
        self.assertEqual(ses.requests(), [])

    def test_web_identity_through_sts_with_token_rotation(self):
        ses = self.ses_fake()
        role = "arn:aws:iam::123456789012:role/mailrelay-irsa"
        workdir = tempfile.mkdtemp(prefix="mailrelay-irsa-")
        self.stack.callback(shutil.rmtree, workdir, True)
        os.chmod(workdir, 0o755)
        token_file = write_file(os.path.join(workdir, "token"), "eyJ.first-token.sig\n", 0o644)
        sts = self.fake("sts_fake.py", ["--role-arn", role, "--token-file", token_file, "--expires-in", "304"])
        r = self.relay(ses, static=False, env={"AWS_WEB_IDENTITY_TOKEN_FILE": token_file, "AWS_ROLE_ARN": role,
                                               "AWS_ROLE_SESSION_NAME": "relay-test",
                                               "AWS_ENDPOINT_URL_STS": sts.url()})
        self.send(r)
        first = ses.wait_sent(1)[0]
        self.assertEqual(first["token_issuer"], "sts")
        (call,) = sts.requests()
        self.assertTrue(call["token_ok"])
        self.assertFalse(call["signed"])  # AssumeRoleWithWebIdentity is unsigned
        self.assertEqual(call["role_session_name"], "relay-test")
        self.assertIn("Action=AssumeRoleWithWebIdentity", call["body"])
        self.assertEqual(first["access_key_id"], call["issued_access_key_id"])
        # The identity provider rotates the token file; the refresh must read it again.
        write_file(token_file, "eyJ.second-token.sig\n", 0o644)
        time.sleep(4.5)
        self.send(r)
        second = ses.wait_sent(2)[1]
        calls = sts.requests()
        self.assertEqual(len(calls), 2)
        self.assertTrue(calls[1]["token_ok"])
        self.assertEqual(second["access_key_id"], calls[1]["issued_access_key_id"])


# --- what is sent -----------------------------------------------------------------------

class Sending(SesTestCase):
    def test_envelope_only_bcc_delivered_header_only_recipient_not(self):
        ses = self.ses_fake()
        r = self.relay(ses)
        body = ("From: Sender <sender@example.org>\r\nTo: Visible <to@example.com>\r\n"
                "Cc: header-only@example.com\r\nBcc: hidden@example.com\r\nSubject: bcc\r\n\r\nbody\r\n")
        self.send(r, rcpts=["to@example.com", "hidden@example.com"], body=body)
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["destination"], {"ToAddresses": ["to@example.com"],
                                              "BccAddresses": ["hidden@example.com"]})
        self.assertFalse(rec["raw_has_bcc"])
        raw = ses.raw(rec)
        self.assertNotIn(b"Bcc:", raw)
        self.assertIn(b"Cc: header-only@example.com\r\n", raw)  # headers untouched otherwise

    def test_cc_recipients_and_more_than_fifty_in_two_requests(self):
        ses = self.ses_fake()
        r = self.relay(ses)
        rcpts = ["r%02d@example.com" % i for i in range(60)]
        body = ("From: sender@example.org\r\nTo: r00@example.com\r\nCc: r01@example.com, R02@Example.com\r\n"
                "Subject: many\r\n\r\nmany\r\n")
        qid = self.send(r, rcpts=rcpts, body=body)
        recs = ses.wait_sent(2)
        self.assertEqual(len(recs), 2)
        first, second = sorted(recs, key=lambda x: -len(x["destination"].get("BccAddresses", [])))
        self.assertEqual(first["destination"]["ToAddresses"], ["r00@example.com"])
        self.assertEqual(first["destination"]["CcAddresses"], ["r01@example.com", "r02@example.com"])
        self.assertEqual(len(first["destination"]["BccAddresses"]), 47)
        self.assertEqual(second["destination"], {"BccAddresses": rcpts[50:]})
        # The send log (not mailrelayd's log, which may merge a burst of lines) has all 60,
        # each with both MessageIds as the job's info.
        def entries():
            got = [e for e in r.relayctl("log", json_out=True)["entries"] if e["id"] == qid]
            return len(got) == 60 and got
        got = wait_for(entries, what="60 send-log entries")
        self.assertEqual({e["status"] for e in got}, {"sent"})
        for e in got:
            info = e["reply"].split(" ses-message-id=")[1]
            self.assertEqual(sorted(info.split(",")), sorted(x["message_id"] for x in recs))

    def test_from_rewrite_configuration_set_and_tags(self):
        ses = self.ses_fake(["--configuration-set", "relay-set", "--verified", "relay@test.example"])
        r = self.relay(ses, ses_keys={"sender": "relay@test.example", "rewrite_from": "yes",
                                      "configuration_set": "relay-set", "tags": "app=mailrelay, env=test"})
        body = ("From: \"Alice Example\" <alice@example.org>\r\nTo: rcpt@example.com\r\nSubject: rewrite\r\n"
                "\r\nbody\r\n")
        self.send(r, sender="alice@example.org", body=body)
        rec = ses.wait_sent(1)[0]
        self.assertEqual(rec["from_email_address"], "relay@test.example")
        self.assertEqual(rec["configuration_set"], "relay-set")
        self.assertEqual(rec["email_tags"], [{"Name": "app", "Value": "mailrelay"}, {"Name": "env", "Value": "test"}])
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(ses.raw(rec))
        self.assertEqual(msg["From"].addresses[0].addr_spec, "relay@test.example")
        self.assertEqual(msg["From"].addresses[0].display_name, "Alice Example")
        self.assertEqual(msg["Reply-To"].addresses[0].addr_spec, "alice@example.org")
        self.assertEqual(len(msg.get_all("From")), 1)

    def test_message_id_shown_by_relayctl_show(self):
        ses = self.ses_fake()
        # The file backend cannot write (read-only directory), so the message stays queued
        # with its SES recipient delivered and its file recipient deferred.
        r = self.relay(ses, start=False)
        os.makedirs(r.outbox, exist_ok=True)
        os.chmod(r.outbox, 0o555)
        r.start(env=r.env)
        qid = self.send(r, rcpts=["rcpt@example.com", "local@example.org"])
        rec = ses.wait_sent(1)[0]
        self.wait_log(r, re.escape(qid) + r": to=<local@example.org> backend=file .*status=deferred")
        shown = r.relayctl("show", qid, json_out=True)
        by_addr = {x["address"]: x for x in shown["recipients"]}
        self.assertEqual(by_addr["rcpt@example.com"]["state"], "delivered")
        self.assertEqual(by_addr["rcpt@example.com"]["info"], "ses-message-id=" + rec["message_id"])
        text = r.relayctl("show", qid).stdout
        self.assertIn("ses-message-id=" + rec["message_id"], text)
        os.chmod(r.outbox, 0o755)


# --- failures ---------------------------------------------------------------------------

class Failures(SesTestCase):
    def test_throttling_pauses_the_backend_then_delivers(self):
        ses = self.ses_fake()
        ses.post("/_config", {"throttle": 2})
        r = self.relay(ses)
        qid = self.send(r)
        ses.wait_sent(1, timeout=40)
        outcomes = ses.outcomes()
        self.assertEqual(outcomes, ["TooManyRequestsException", "TooManyRequestsException", "sent"])
        reqs = ses.requests()
        # The agent asks qmgr to pause 2 s (SES sends no Retry-After); qmgr holds the backend.
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 1.8)
        self.assertGreaterEqual(reqs[2]["time"] - reqs[1]["time"], 1.8)
        self.assertRegex(r.log(), r"backend is throttling; pausing deliveries to it backend=ses retry_after=2")
        self.assertRegex(r.log(), re.escape(qid) + r": .*status=deferred \(451 4\.4\.5 SES answered 429 "
                         r"TooManyRequestsException: Maximum sending rate exceeded\.")
        self.wait_log(r, re.escape(qid) + r": to=<rcpt@example.com> backend=ses .*status=sent")

    def test_message_rejected_bounces_with_a_dsn_to_the_sender(self):
        ses = self.ses_fake(["--reject", "unverified@example.com"])
        r = self.relay(ses)
        qid = self.send(r, rcpts=["unverified@example.com"], sender="sender@example.org", subject="will bounce")
        dsn = r.read(r.wait_outbox(1)[0])
        self.assertRegex(dsn, rb"\r\nTo: <?sender@example\.org>?\r\n")
        self.assertIn(b"Status: 5.7.1", dsn)
        self.assertRegex(dsn, rb"Diagnostic-Code: [\w-]+; 550 5\.7\.1 SES answered 400 MessageRejected: Email address "
                              rb"is not verified\. The following identities failed the check in region US-EAST-1: "
                              rb"unverified@example\.com")
        self.assertIn(b"Subject: will bounce", dsn)
        self.assertRegex(r.log(), re.escape(qid) + r": to=<unverified@example.com> backend=ses .*status=bounced")
        self.assertEqual(ses.outcomes(), ["MessageRejected"])

    def test_server_error_then_success(self):
        ses = self.ses_fake(["--fault", json.dumps({"path": "/v2/", "count": 1, "status": 500,
                                                     "body": {"message": "Internal failure"},
                                                     "headers": {"x-amzn-ErrorType": "InternalFailure"}})])
        r = self.relay(ses)
        qid = self.send(r)
        ses.wait_sent(1)
        self.assertRegex(r.log(), re.escape(qid) + r": .*status=deferred \(451 4\.3\.0 SES answered 500 InternalFailure: "
                         r"Internal failure")
        self.wait_log(r, re.escape(qid) + r": .*status=sent")

    def test_timeout_defers_then_success(self):
        ses = self.ses_fake(["--fault", json.dumps({"path": "/v2/", "count": 1, "hang": True})])
        r = self.relay(ses, ses_keys={"timeout": "2s"})
        qid = self.send(r)
        ses.wait_sent(1, timeout=40)
        self.assertRegex(r.log(), re.escape(qid) + r": .*status=deferred \(451 4\.4\.2 SES did not answer in time")

    def test_sending_paused_defers_loudly(self):
        ses = self.ses_fake()
        ses.post("/_config", {"paused": True})
        r = self.relay(ses)
        qid = self.send(r)
        self.wait_log(r, re.escape(qid) + r": .*status=deferred \(451 4\.3\.2 SES answered 400 SendingPausedException")
        self.assertRegex(r.log(), r"error: " + re.escape(qid) + r": ses_error=SendingPausedException \(SES needs an operator")
        ses.post("/_config", {"paused": False})
        ses.wait_sent(1)

    def test_oversize_message_bounced_before_sending(self):
        ses = self.ses_fake()
        r = self.relay(ses, sections={"smtpd": {"max_message_size": "40M"}})
        line = b"A" * 76 + b"\r\n"
        size = 31 << 20  # 31 MiB raw is about 41.3 MiB of base64: over SES's 40 MB
        body = (b"From: sender@example.org\r\nTo: big@example.com\r\nSubject: too big\r\n\r\n" +
                line * (size // len(line)))
        qid = self.send(r, rcpts=["big@example.com"], body=body)
        dsn = r.read(r.wait_outbox(1, timeout=60)[0])
        self.assertIn(b"Status: 5.3.4", dsn)
        self.assertRegex(dsn, rb"552 5\.3\.4 message too large for SES")
        self.assertRegex(r.log(), re.escape(qid) + r": to=<big@example.com> backend=ses .*status=bounced")
        self.assertEqual(ses.requests(), [])


class RateLimit(SesTestCase):
    def test_rate_limit_is_respected_at_the_fake(self):
        # The relay is told 2/s. The fake throttles like SES past 4 requests in any second, so
        # a relay without the limit trips it at once (8 messages arrive within milliseconds).
        ses = self.ses_fake(["--max-rate", "4"])
        r = self.relay(ses, ses_keys={"rate_limit": "2/s"})
        for i in range(8):
            self.send(r, rcpts=["r%d@example.com" % i], subject="rate %d" % i)
        sent = ses.wait_sent(8, timeout=40)
        times = sorted(x["arrived"] for x in sent)
        trace = [round(t - times[0], 3) for t in times]
        self.assertNotIn("TooManyRequestsException", ses.outcomes(), trace)
        # Requests per second as the fake saw them: qmgr starts at most 2 in any 1-second
        # window; arrival times jitter by the time a request takes to get there (a new TLS
        # connection is slower than a reused one; a loaded CI machine adds a tenth of a second
        # or more), hence 0.6 s, not 1 s. Without the limit all 8 arrive within milliseconds.
        for i in range(len(times) - 2):
            self.assertGreaterEqual(times[i + 2] - times[i], 0.6, "3 requests within a second: %s" % trace)
        self.assertGreaterEqual(times[-1] - times[0], 2.8, trace)


# --- the MIME corpus --------------------------------------------------------------------

def split_fields(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields = []
    for line in (head + b"\r\n").split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields, body


def field_name(field):
    return field.split(b":", 1)[0].strip().lower()


class Corpus(SesTestCase):
    def test_every_corpus_message_arrives_as_queued(self):
        with open(os.path.join(CORPUS, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        ses = self.ses_fake()
        r = self.relay(ses, sections={"route": {"default": "ses", "example.org": None}})
        expected = {}
        for entry in manifest["messages"]:
            with open(os.path.join(CORPUS, entry["file"]), "rb") as f:
                raw = f.read()
            env = entry["envelope"]
            self.send(r, rcpts=env["rcpt_to"], sender=env["mail_from"], body=raw,
                      mail_options=["BODY=8BITMIME"] if entry["eight_bit"] else [])
            _, body = split_fields(raw)
            expected[hashlib.sha256(body).hexdigest()] = (entry, raw)
        recs = ses.wait_sent(len(manifest["messages"]), timeout=90)
        self.assertEqual(len(recs), len(manifest["messages"]))
        self.assertEqual(ses.outcomes().count("sent"), len(recs))  # nothing refused on the way
        matched = set()
        for rec in recs:
            got = ses.raw(rec)
            got_fields, got_body = split_fields(got)
            entry, original = expected[hashlib.sha256(got_body).hexdigest()]
            matched.add(entry["file"])
            with self.subTest(file=entry["file"]):
                orig_fields, _ = split_fields(original)
                # What the agent must change: no Bcc, no second copy of a single-instance field.
                want, seen = [], set()
                for fld in orig_fields:
                    name = field_name(fld)
                    if name == b"bcc" or (name in (b"mime-version", b"dkim-signature") and name in seen):
                        continue
                    seen.add(name)
                    want.append(fld)
                self.assertTrue(got_fields[0].startswith(b"Received: from client.example.org"))
                have = got_fields[1:]
                # The relay adds Message-ID and Date when the client left them out (018).
                added = [f for f in have if field_name(f) in (b"message-id", b"date")
                         and field_name(f) not in {field_name(o) for o in orig_fields}]
                self.assertEqual([f for f in have if f not in added], want)
                self.assertEqual(got_body, split_fields(original)[1])
                # Destination is the envelope, split by the To/Cc fields.
                dest = rec["destination"]
                everyone = dest.get("ToAddresses", []) + dest.get("CcAddresses", []) + dest.get("BccAddresses", [])
                self.assertEqual(sorted(everyone), sorted(entry["envelope"]["rcpt_to"]))
                to = {m["address"].lower() for m in entry["to"]}
                cc = {m["address"].lower() for m in entry["cc"]} - to
                self.assertEqual(set(dest.get("ToAddresses", [])), set(entry["envelope"]["rcpt_to"]) & to)
                self.assertEqual(set(dest.get("CcAddresses", [])), set(entry["envelope"]["rcpt_to"]) & cc)
                self.assertEqual(rec["from_email_address"], entry["envelope"]["mail_from"])
                self.assertFalse(rec["raw_has_bcc"])
                if entry["bcc"]:
                    self.assertEqual(set(dest.get("BccAddresses", [])), {m["address"] for m in entry["bcc"]})
                if entry["duplicate_headers"]:
                    self.assertRegex(r.log(), r"removed=MIME-Version \(header fields SES would refuse")
                    self.assertEqual(sum(field_name(f) == b"mime-version" for f in have), 1)
        self.assertEqual(matched, {e["file"] for e in manifest["messages"]})


if __name__ == "__main__":
    unittest.main()
