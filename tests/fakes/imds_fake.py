#!/usr/bin/python3
"""Fake EC2 instance metadata service, IMDSv2 (plain HTTP on loopback, like the real one).

    /usr/bin/python3 tests/fakes/imds_fake.py --plain [--role NAME | --no-role] \\
        [--expires-in 3600] [--temp-key KEY] [--allow-v1] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

Checks what IMDS checks:
  PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds between 1 and 21600 (else
  400) and no X-Forwarded-For (else 403); answers the token as text/plain with the TTL echoed
  in X-aws-ec2-metadata-token-ttl-seconds.
  GET /latest/meta-data/... needs X-aws-ec2-metadata-token naming a live token: 401 otherwise
  (IMDSv1 requests without a token get 401 too unless --allow-v1).
  GET /latest/meta-data/iam/security-credentials/ lists the role (404 with --no-role);
  GET /latest/meta-data/iam/security-credentials/ROLE answers
  {"Code": "Success", "LastUpdated", "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey",
  "Token", "Expiration"}: fresh temporary credentials from aws_creds.issue() at every call,
  valid --expires-in seconds, so the SES fake can check them and a test can see a refresh.
POST /_config {"expires_in": N, "token_ttl": N, "role": NAME, "expire_tokens": true}.
Records carry kind ("token", "list", "credentials"), token_ok, and issued_access_key_id.
"""

import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_creds  # noqa: E402
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"


class ImdsFake(fakebase.Fake):
    """Fake EC2 IMDSv2."""

    name = "imds_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--role", default="mailrelay-role")
        parser.add_argument("--no-role", action="store_true")
        parser.add_argument("--expires-in", type=int, default=3600)
        parser.add_argument("--temp-key", default=aws_creds.DEFAULT_KEY)
        parser.add_argument("--allow-v1", action="store_true")

    def __init__(self, args):
        super().__init__(args)
        self.tokens = {}  # token -> expiry
        self.expires_in = args.expires_in
        self.role = None if args.no_role else args.role
        self.max_token_ttl = 21600

    def control(self, req):
        if req.path == "/_config" and req.method == "POST":
            body = req.json()
            with self.lock:
                if "expires_in" in body:
                    self.expires_in = int(body["expires_in"])
                if "token_ttl" in body:
                    self.max_token_ttl = int(body["token_ttl"])
                if "role" in body:
                    self.role = body["role"]
                if body.get("expire_tokens"):
                    self.tokens = {}
            return Reply.json({"ok": True})
        return None

    def state(self):
        kinds = {}
        for r in self.requests:
            kinds[r.get("kind", "?")] = kinds.get(r.get("kind", "?"), 0) + 1
        return {"by_kind": kinds}

    def handle(self, req):
        if req.path == "/latest/api/token":
            req.note["kind"] = "token"
            if req.method != "PUT":
                return Reply(405, "", content_type="text/plain")
            if req.header("x-forwarded-for"):
                return Reply(403, "", content_type="text/plain")
            try:
                ttl = int(req.header("x-aws-ec2-metadata-token-ttl-seconds") or "")
            except ValueError:
                return Reply(400, "", content_type="text/plain")
            if not 1 <= ttl <= 21600:
                return Reply(400, "", content_type="text/plain")
            with self.lock:
                ttl = min(ttl, self.max_token_ttl)
                token = "AQAE" + uuid.uuid4().hex + uuid.uuid4().hex
                self.tokens[token] = time.time() + ttl
            return Reply(200, token, {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}, "text/plain")
        if not req.path.startswith("/latest/meta-data/"):
            return Reply(404, "Not Found", content_type="text/plain")
        req.note["kind"] = "credentials" if req.path.startswith(CREDS_PREFIX) and \
            len(req.path) > len(CREDS_PREFIX) else "list"
        if req.method != "GET":
            return Reply(405, "", content_type="text/plain")
        token = req.header("x-aws-ec2-metadata-token")
        with self.lock:
            ok = token is not None and self.tokens.get(token, 0) > time.time()
            role, expires_in = self.role, self.expires_in
        req.note["token_ok"] = ok
        if not ok and not (token is None and self.args.allow_v1):
            return Reply(401, "", content_type="text/plain")
        if req.path == CREDS_PREFIX:
            if not role:
                return Reply(404, "Not Found", content_type="text/plain")
            return Reply(200, role, content_type="text/plain")
        if req.path.startswith(CREDS_PREFIX):
            if req.path[len(CREDS_PREFIX):] != role:
                return Reply(404, "Not Found", content_type="text/plain")
            c = aws_creds.issue(self.args.temp_key, expires_in, "imds")
            req.note["issued_access_key_id"] = c["AccessKeyId"]
            req.note["expiration"] = c["Expiration"]
            return Reply.json({"Code": "Success", "LastUpdated": aws_creds.iso8601(time.time()),
                               "Type": "AWS-HMAC", "AccessKeyId": c["AccessKeyId"],
                               "SecretAccessKey": c["SecretAccessKey"], "Token": c["Token"],
                               "Expiration": c["Expiration"]})
        return Reply(404, "Not Found", content_type="text/plain")


if __name__ == "__main__":
    sys.exit(fakebase.main(ImdsFake))
