#!/usr/bin/python3
"""Fake Amazon SES v2 endpoint: SendEmail with raw content, checked as SES checks it.

    /usr/bin/python3 tests/fakes/ses_fake.py --cert-dir DIR [--region us-east-1] \\
        [--credential AKID:SECRET ...] [--temp-key KEY] [--max-rate N] [--save-dir DIR] \\
        [--reject ADDRESS ...] [--verified IDENTITY ...] [--configuration-set NAME ...] \\
        [--port-file FILE] [--record FILE] [--fault JSON] [--exit-on-stdin-eof]

Serves POST /v2/email/outbound-emails over HTTPS (test CA from testca.py) and answers as SES
v2 does (rest-json: x-amzn-ErrorType header, {"message": ...} body, x-amzn-RequestId):

  * SigV4: Authorization parsed; service must be "ses" and the region --region; X-Amz-Date
    within 5 minutes of now; host and x-amz-date signed. The signature is recomputed with
    botocore's own SigV4Auth from the request as received (signed headers, path, body) and the
    secret of the key id: long-term keys from --credential, temporary "ASIA..." keys derived
    from --temp-key (aws_creds.py), whose X-Amz-Security-Token must be present, signed, belong
    to the key id and not be expired (ExpiredTokenException).
    403 MissingAuthenticationTokenException / IncompleteSignatureException /
    InvalidSignatureException / SignatureDoesNotMatch / UnrecognizedClientException.
  * JSON: the SendEmailRequest shape (unknown members refused), Content.Raw.Data strict
    base64, Destination with at most 50 ASCII addresses, EmailTags names and values,
    ConfigurationSetName known (with --configuration-set; else 404 NotFoundException).
  * Raw message: at most 40 MiB of base64; header and body separated by an empty line; no
    line over 1000 octets with its CRLF; no second copy of a single-instance field
    (400 MessageRejected "Duplicate header 'MIME-Version'."); a From somewhere.
  * Policy: FromEmailAddress must be a verified identity when --verified is given; a
    Destination address in --reject (or POST /_config {"reject": [...]}) gets 400
    MessageRejected "Email address is not verified. ...".
  * Rate: with --max-rate N, more than N accepted sends in any second get 429
    TooManyRequestsException {"message": "Maximum sending rate exceeded."}.
  * POST /_config {"throttle": N} answers the next N sends with that 429;
    {"paused": true} answers 400 SendingPausedException; {"reject": [...]}, {"max_rate": N}.

Accepted messages get {"MessageId": "0100..."}; with --save-dir the decoded raw message is
written to DIR/<MessageId>.eml. Every request's record carries: outcome (the error code or
"sent"), message_id, access_key_id, session_token (bool), from_email_address, destination,
configuration_set, email_tags, raw_size, raw_sha256, raw_file, raw_has_bcc, subject, arrived
(arrival time; fakebase's "time" is when the answer was ready).
The recorded body leaves out the base64 data. Faults (hang, status 500, ...) come from
fakebase: see its docstring.
"""

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid

import botocore.auth  # noqa: E402  (imported up front: the first import takes a while)
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_creds  # noqa: E402
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

SEND_PATH = "/v2/email/outbound-emails"
MAX_RAW_BASE64 = 40 << 20
MAX_SKEW = 300
ALLOWED_MEMBERS = {"FromEmailAddress", "FromEmailAddressIdentityArn", "Destination", "ReplyToAddresses",
                   "FeedbackForwardingEmailAddress", "FeedbackForwardingEmailAddressIdentityArn",
                   "Content", "EmailTags", "ConfigurationSetName", "ListManagementOptions"}
# https://docs.aws.amazon.com/ses/latest/dg/header-fields.html
SINGLE_INSTANCE = {n.lower() for n in """
Accept-Language acceptLanguage Archived-At Auto-Submitted Bounces-to Comments Content-Alternative
Content-Base Content-Class Content-Description Content-Disposition Content-Duration Content-ID
Content-Language Content-Length Content-Location Content-MD5 Content-Transfer-Encoding Content-Type
Date Delivered-To Disposition-Notification-Options Disposition-Notification-To DKIM-Signature
DomainKey-Signature Errors-To From Importance In-Reply-To Keywords List-Archive List-Help List-Id
List-Owner List-Post List-Subscribe List-Unsubscribe List-Unsubscribe-Post Message-Context
Message-ID MIME-Version Organization Original-From Original-Message-ID Original-Recipient
Original-Subject Precedence Priority References Reply-To Return-Path Return-Receipt-To Sender
Solicitation Sensitivity Subject Thread-Index Thread-Topic User-Agent VBR-Info""".split()}
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,"
                     r"\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
TAG_RE = re.compile(r"^[A-Za-z0-9_\-]{1,256}$")


class SesError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_header_fields(raw):
    """[(name, value bytes)] of the top-level header; None if there is no empty line."""
    end = raw.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = raw.find(b"\n\n"), 2
        if end < 0:
            return None, None
    head = raw[:end + 2]
    fields = []
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        fields.append((name.decode("ascii", "replace").strip() if colon else "", value))
    return fields, raw[end + sep:]


class SesFake(fakebase.Fake):
    """Fake Amazon SES v2 SendEmail endpoint."""

    name = "ses_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--region", default="us-east-1")
        parser.add_argument("--credential", action="append", default=[],
                            help="AKID:SECRET long-term keys (repeatable)")
        parser.add_argument("--temp-key", default=aws_creds.DEFAULT_KEY,
                            help="key the credential fakes derive temporary credentials from")
        parser.add_argument("--max-rate", type=float, default=0, help="sends per second (0: no limit)")
        parser.add_argument("--save-dir", help="write each accepted raw message here")
        parser.add_argument("--reject", action="append", default=[], help="refuse this recipient")
        parser.add_argument("--verified", action="append", default=[],
                            help="verified identity (address or domain); none given: all are")
        parser.add_argument("--configuration-set", action="append", default=[],
                            help="existing configuration set; none given: any name exists")

    def __init__(self, args):
        super().__init__(args)
        self.long_term = {}
        for spec in args.credential:
            akid, sep, secret = spec.partition(":")
            if not sep or not akid or not secret:
                raise fakebase.BadRequest("--credential wants AKID:SECRET")
            self.long_term[akid] = secret
        self.reject = {a.lower() for a in args.reject}
        self.max_rate = args.max_rate
        self.throttle = 0
        self.paused = False
        self.sent_times = []
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)

    def control(self, req):
        if req.path == "/_config" and req.method == "POST":
            body = req.json()
            with self.lock:
                if "throttle" in body:
                    self.throttle = int(body["throttle"])
                if "paused" in body:
                    self.paused = bool(body["paused"])
                if "reject" in body:
                    self.reject = {a.lower() for a in body["reject"]}
                if "max_rate" in body:
                    self.max_rate = float(body["max_rate"])
                if "credential" in body:
                    akid, _, secret = body["credential"].partition(":")
                    self.long_term[akid] = secret
            return Reply.json({"ok": True})
        return None

    def state(self):
        sent = [r for r in self.requests if r.get("outcome") == "sent"]
        return {"sent": len(sent)}

    # --- SigV4 -----------------------------------------------------------------------------

    def _authenticate(self, req):
        auth = req.header("authorization")
        if not auth:
            raise SesError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise SesError(400, "IncompleteSignatureException",
                           "Authorization header requires 'Credential', 'Signature' and "
                           "'SignedHeaders' parameters.")
        akid, scope_date, region, service, signed, signature = m.groups()
        req.note["access_key_id"] = akid
        if service != "ses":
            raise SesError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to correct service: 'ses'.")
        if region != self.args.region:
            raise SesError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to a valid region, not '%s'." % region)
        amz_date = req.header("x-amz-date") or ""
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise SesError(400, "IncompleteSignatureException", "X-Amz-Date is missing or malformed")
        if abs(t - time.time()) > MAX_SKEW:
            raise SesError(403, "InvalidSignatureException", "Signature expired: %s is now earlier "
                           "or later than the allowed skew" % amz_date)
        if amz_date[:8] != scope_date:
            raise SesError(403, "SignatureDoesNotMatch", "Credential date does not match X-Amz-Date")
        signed_names = signed.split(";")
        if "host" not in signed_names or "x-amz-date" not in signed_names:
            raise SesError(403, "SignatureDoesNotMatch", "host and x-amz-date must be signed")
        token = req.header("x-amz-security-token")
        req.note["session_token"] = token is not None
        if akid in self.long_term:
            secret = self.long_term[akid]
            if token is not None:
                raise SesError(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid.")
        elif akid.startswith("ASIA"):
            if token is None:
                raise SesError(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid.")
            if "x-amz-security-token" not in signed_names:
                raise SesError(403, "SignatureDoesNotMatch", "x-amz-security-token must be signed")
            code, detail = aws_creds.check_session_token(self.args.temp_key, akid, token)
            if code:
                raise SesError(403, code, detail)
            req.note["token_issuer"] = detail.get("iss")
            secret = aws_creds.secret_for(self.args.temp_key, akid)
        else:
            raise SesError(403, "UnrecognizedClientException",
                           "The security token included in the request is invalid.")
        expected = self._botocore_authorization(req, akid, secret, token, region, amz_date, signed_names)
        if not hmac.compare_digest(expected, auth.strip()):
            req.note["expected_authorization"] = expected
            raise SesError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method. Consult "
                           "the service documentation for details.")

    def _botocore_authorization(self, req, akid, secret, token, region, amz_date, signed_names):
        """Signs the request as received with botocore's SigV4Auth, the reference."""
        headers = {}
        for name in signed_names:
            if name in ("x-amz-date", "x-amz-security-token"):
                continue  # botocore adds both itself, from the timestamp and the credentials
            values = req.header_all(name)
            if not values:
                raise SesError(403, "SignatureDoesNotMatch", "signed header %s is missing" % name)
            headers[name] = ",".join(values)
        target = req.raw_path + ("?" + req.query_string if req.query_string else "")
        aws_req = AWSRequest(method=req.method, url="https://%s%s" % (headers.get("host", ""), target),
                             data=req.body, headers=headers)
        aws_req.context["timestamp"] = amz_date
        signer = botocore.auth.SigV4Auth(Credentials(akid, secret, token), "ses", region)
        signer._modify_request_before_signing(aws_req)
        canonical = signer.canonical_request(aws_req)
        string_to_sign = signer.string_to_sign(aws_req, canonical)
        signature = signer.signature(string_to_sign, aws_req)
        signer._inject_signature_to_request(aws_req, signature)
        return aws_req.headers["Authorization"]

    # --- SendEmail -------------------------------------------------------------------------

    def _validate(self, req, body):
        if not isinstance(body, dict):
            raise SesError(400, "SerializationException", "the body must be a JSON object")
        unknown = set(body) - ALLOWED_MEMBERS
        if unknown:
            raise SesError(400, "SerializationException", "Unknown members: %s" % ", ".join(sorted(unknown)))
        content = body.get("Content")
        if not isinstance(content, dict) or set(content) != {"Raw"} or not isinstance(content["Raw"], dict) \
                or set(content["Raw"]) != {"Data"} or not isinstance(content["Raw"]["Data"], str):
            raise SesError(400, "BadRequestException", "Content must be {\"Raw\": {\"Data\": ...}} here")
        data = content["Raw"]["Data"]
        if len(data) > MAX_RAW_BASE64:
            raise SesError(400, "MessageRejected", "Message length is more than %d bytes long: '%d'."
                           % (MAX_RAW_BASE64, len(data)))
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise SesError(400, "BadRequestException", "Content.Raw.Data is not valid base64")
        dest = body.get("Destination")
        if not isinstance(dest, dict) or set(dest) - {"ToAddresses", "CcAddresses", "BccAddresses"}:
            raise SesError(400, "BadRequestException", "Destination is missing or malformed")
        addresses = []
        for key in ("ToAddresses", "CcAddresses", "BccAddresses"):
            lst = dest.get(key, [])
            if not isinstance(lst, list) or not all(isinstance(a, str) for a in lst):
                raise SesError(400, "BadRequestException", "Destination.%s must be a list of strings" % key)
            for a in lst:
                if not a.isascii() or "@" not in a or any(c in a for c in " \r\n<>"):
                    raise SesError(400, "BadRequestException", "Invalid email address <%s>." % a)
            addresses += lst
        if not addresses:
            raise SesError(400, "BadRequestException", "Destination has no addresses")
        if len(addresses) > 50:
            raise SesError(400, "MessageRejected", "Recipient count exceeds 50.")
        tags = body.get("EmailTags", [])
        if not isinstance(tags, list):
            raise SesError(400, "BadRequestException", "EmailTags must be a list")
        for t in tags:
            if not isinstance(t, dict) or set(t) != {"Name", "Value"} or not TAG_RE.match(str(t["Name"])) \
                    or not TAG_RE.match(str(t["Value"])):
                raise SesError(400, "BadRequestException", "Invalid EmailTag %r" % (t,))
        cs = body.get("ConfigurationSetName")
        if cs is not None and self.args.configuration_set and cs not in self.args.configuration_set:
            raise SesError(404, "NotFoundException", "Configuration set <%s> does not exist." % cs)
        return raw, dest, addresses

    def _check_raw(self, raw, body):
        fields, _ = parse_header_fields(raw)
        if fields is None:
            raise SesError(400, "MessageRejected", "Message has no header/body separator")
        for line in re.split(rb"\r\n", raw):
            if len(line) + 2 > 1000:
                raise SesError(400, "MessageRejected", "Message contains a line longer than 1000 characters")
        seen = set()
        for name, _ in fields:
            lower = name.lower()
            if lower in SINGLE_INSTANCE:
                if lower in seen:
                    raise SesError(400, "MessageRejected", "Duplicate header '%s'." % name)
                seen.add(lower)
        if "from" not in seen and not body.get("FromEmailAddress"):
            raise SesError(400, "MessageRejected", "Missing required header 'From'.")
        return fields

    def _verified(self, address):
        if not self.args.verified or not address:
            return True
        address = address.lower()
        domain = address.rsplit("@", 1)[-1]
        return any(v.lower() in (address, domain) for v in self.args.verified)

    def _send(self, req):
        if req.method != "POST":
            raise SesError(404, "UnknownOperationException", "")
        self._authenticate(req)
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise SesError(400, "SerializationException", "Content-Type must be application/json")
        body = req.json()
        summary = dict(body) if isinstance(body, dict) else body
        if isinstance(summary, dict) and isinstance(summary.get("Content"), dict):
            summary["Content"] = {"Raw": {"Data": "<%d base64 octets>" % len(
                str(body["Content"].get("Raw", {}).get("Data", "")))}}
        req.record_body = json.dumps(summary)
        raw, dest, addresses = self._validate(req, body)
        req.note.update({"from_email_address": body.get("FromEmailAddress"), "destination": dest,
                         "configuration_set": body.get("ConfigurationSetName"),
                         "email_tags": body.get("EmailTags"), "raw_size": len(raw),
                         "raw_sha256": hashlib.sha256(raw).hexdigest()})
        fields = self._check_raw(raw, body)
        names = [n.lower() for n, _ in fields]
        req.note["raw_has_bcc"] = "bcc" in names
        req.note["header_names"] = [n for n, _ in fields]
        for n, v in fields:
            if n.lower() == "subject":
                req.note["subject"] = v.decode("utf-8", "replace").strip()
        with self.lock:
            if self.paused:
                raise SesError(400, "SendingPausedException", "Sending is paused for this account.")
            if self.throttle > 0:
                self.throttle -= 1
                raise SesError(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
            now = time.time()
            if self.max_rate:
                self.sent_times = [t for t in self.sent_times if now - t < 1.0]
                if len(self.sent_times) >= self.max_rate:
                    raise SesError(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
            reject = self.reject
        if not self._verified(body.get("FromEmailAddress")):
            raise SesError(400, "MessageRejected", "Email address is not verified. The following "
                           "identities failed the check in region %s: %s" %
                           (self.args.region.upper(), body.get("FromEmailAddress")))
        refused = [a for a in addresses if a.lower() in reject]
        if refused:
            raise SesError(400, "MessageRejected", "Email address is not verified. The following "
                           "identities failed the check in region %s: %s" %
                           (self.args.region.upper(), ", ".join(refused)))
        with self.lock:
            self.sent_times.append(time.time())
        message_id = "0100%012x-%s-000000" % (int(time.time() * 1000), uuid.uuid4())
        req.note["message_id"] = message_id
        if self.args.save_dir:
            path = os.path.join(self.args.save_dir, message_id + ".eml")
            with open(path, "wb") as f:
                f.write(raw)
            req.note["raw_file"] = path
        return message_id

    def handle(self, req):
        req.note["arrived"] = time.time()
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id}
        if req.path != SEND_PATH:
            req.note["outcome"] = "UnknownOperationException"
            return Reply.json({"message": None}, 404, dict(headers, **{
                "x-amzn-ErrorType": "UnknownOperationException"}))
        try:
            message_id = self._send(req)
        except SesError as e:
            req.note["outcome"] = e.code
            req.note["error_message"] = e.message
            headers["x-amzn-ErrorType"] = e.code + ":http://internal.amazon.com/coral/com.amazonaws.sesv2/"
            return Reply.json({"message": e.message}, e.status, headers)
        except fakebase.BadRequest as e:
            req.note["outcome"] = "SerializationException"
            headers["x-amzn-ErrorType"] = "SerializationException"
            return Reply.json({"message": str(e)}, 400, headers)
        req.note["outcome"] = "sent"
        return Reply.json({"MessageId": message_id}, 200, headers)


if __name__ == "__main__":
    sys.exit(fakebase.main(SesFake))
