#!/usr/bin/python3
"""Fake AWS STS AssumeRoleWithWebIdentity (query API over HTTPS, XML answers).

    /usr/bin/python3 tests/fakes/sts_fake.py --cert-dir DIR --role-arn ARN \\
        (--token TOKEN | --token-file FILE) [--expires-in 3600] [--temp-key KEY] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

POST / with an application/x-www-form-urlencoded body, checked as STS checks it:
Action=AssumeRoleWithWebIdentity, Version=2011-06-15, RoleArn (must be --role-arn, else 403
AccessDenied), RoleSessionName (2-64 of [\\w+=,.@-], else 400 ValidationError) and
WebIdentityToken (must equal --token or the current contents of --token-file, else 400
InvalidIdentityToken). The request is unsigned in the SDKs; an Authorization header is noted.
Answers AssumeRoleWithWebIdentityResponse XML with fresh temporary credentials from
aws_creds.issue() (checkable by the SES fake), or ErrorResponse XML. Records carry
role_session_name, token_ok, signed and issued_access_key_id; the token is redacted.
"""

import os
import re
import sys
import urllib.parse
import uuid
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_creds  # noqa: E402
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}$")


def error(status, kind, code, message):
    body = ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>%s</RequestId></ErrorResponse>" % (kind, code, escape(message), uuid.uuid4()))
    return Reply(status, body, content_type="text/xml")


class StsFake(fakebase.Fake):
    """Fake STS AssumeRoleWithWebIdentity."""

    name = "sts_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--role-arn", required=True)
        parser.add_argument("--token")
        parser.add_argument("--token-file")
        parser.add_argument("--expires-in", type=int, default=3600)
        parser.add_argument("--temp-key", default=aws_creds.DEFAULT_KEY)

    def _expected_token(self):
        if self.args.token_file:
            with open(self.args.token_file) as f:
                return f.read().strip()
        return self.args.token

    def handle(self, req):
        if req.path != "/" or req.method != "POST":
            return error(404, "Sender", "InvalidAction", "Could not find operation")
        req.note["signed"] = req.header("authorization") is not None
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return error(400, "Sender", "InvalidParameterValue", "form body expected")
        form = {k: v[0] for k, v in req.form().items()}
        redacted = dict(form)
        if "WebIdentityToken" in redacted:
            redacted["WebIdentityToken"] = "<redacted>"
        req.record_body = urllib.parse.urlencode(redacted)
        if form.get("Action") != "AssumeRoleWithWebIdentity":
            return error(400, "Sender", "InvalidAction", "Could not find operation %s" % form.get("Action"))
        if form.get("Version") != "2011-06-15":
            return error(400, "Sender", "InvalidParameterValue", "bad Version")
        session = form.get("RoleSessionName", "")
        req.note["role_session_name"] = session
        if not SESSION_RE.match(session):
            return error(400, "Sender", "ValidationError", "1 validation error detected: Value '%s' at "
                         "'roleSessionName' failed to satisfy constraint" % session)
        token_ok = form.get("WebIdentityToken") == self._expected_token()
        req.note["token_ok"] = token_ok
        if not token_ok:
            return error(400, "Sender", "InvalidIdentityToken", "Couldn't retrieve verification key "
                         "from your identity provider,  please reference AssumeRoleWithWebIdentity "
                         "documentation for requirements")
        if form.get("RoleArn") != self.args.role_arn:
            return error(403, "Sender", "AccessDenied", "Not authorized to perform "
                         "sts:AssumeRoleWithWebIdentity")
        c = aws_creds.issue(self.args.temp_key, self.args.expires_in, "sts",
                            {"role": form["RoleArn"], "session": session})
        req.note["issued_access_key_id"] = c["AccessKeyId"]
        body = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                "<AssumeRoleWithWebIdentityResult>"
                "<SubjectFromWebIdentityToken>system:serviceaccount:mail:mailrelay</SubjectFromWebIdentityToken>"
                "<Audience>sts.amazonaws.com</Audience>"
                "<AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId></AssumedRoleUser>"
                "<Credentials><SessionToken>%s</SessionToken><SecretAccessKey>%s</SecretAccessKey>"
                "<Expiration>%s</Expiration><AccessKeyId>%s</AccessKeyId></Credentials>"
                "<Provider>oidc.eks.example</Provider>"
                "</AssumeRoleWithWebIdentityResult>"
                "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>" %
                (escape(form["RoleArn"]), escape(session), escape(session), escape(c["Token"]),
                 escape(c["SecretAccessKey"]), c["Expiration"], c["AccessKeyId"], uuid.uuid4()))
        return Reply(200, body, content_type="text/xml")


if __name__ == "__main__":
    sys.exit(fakebase.main(StsFake))
