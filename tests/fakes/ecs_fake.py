#!/usr/bin/python3
"""Fake ECS / EKS Pod Identity container credentials endpoint (plain HTTP on loopback).

    /usr/bin/python3 tests/fakes/ecs_fake.py --plain --path /v2/credentials/ID \\
        [--auth-token TOKEN] [--expires-in 3600] [--temp-key KEY] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

GET --path answers {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"} with
fresh temporary credentials from aws_creds.issue() (checkable by the SES fake). With
--auth-token the Authorization header must equal it exactly: missing or wrong gets 401
{"code": "AccessDeniedException", "message": ...}. Other paths: 404. Records carry auth_ok and
issued_access_key_id; the Authorization header is recorded redacted.
"""

import hmac
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_creds  # noqa: E402
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402


class EcsFake(fakebase.Fake):
    """Fake container credentials endpoint."""

    name = "ecs_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--path", default="/v2/credentials/mailrelay")
        parser.add_argument("--auth-token")
        parser.add_argument("--expires-in", type=int, default=3600)
        parser.add_argument("--temp-key", default=aws_creds.DEFAULT_KEY)
        parser.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/mailrelay-task")

    def handle(self, req):
        if req.path != self.args.path:
            return Reply.json({"code": "NotFound", "message": "no such path"}, 404)
        if req.method != "GET":
            return Reply.json({"code": "InvalidRequest", "message": "GET only"}, 405)
        auth = req.header("authorization")
        if auth is not None:
            req.redacted_headers.add("authorization")
        if self.args.auth_token is not None:
            ok = auth is not None and hmac.compare_digest(auth.encode(), self.args.auth_token.encode())
            req.note["auth_ok"] = ok
            if not ok:
                return Reply.json({"code": "AccessDeniedException",
                                   "message": "Authorization token is missing or invalid"}, 401)
        c = aws_creds.issue(self.args.temp_key, self.args.expires_in, "ecs")
        req.note["issued_access_key_id"] = c["AccessKeyId"]
        return Reply.json({"RoleArn": self.args.role_arn, "AccessKeyId": c["AccessKeyId"],
                           "SecretAccessKey": c["SecretAccessKey"], "Token": c["Token"],
                           "Expiration": c["Expiration"]})


if __name__ == "__main__":
    sys.exit(fakebase.main(EcsFake))
