#!/usr/bin/python3
"""Fake Microsoft Graph sendMail, checking what Graph checks.

    /usr/bin/python3 tests/fakes/graph_fake.py --cert-dir DIR [--token-key KEY] \\
        [--app TENANT:CLIENT_ID ...] [--mailbox TENANT:ADDRESS ...] \\
        [--deny TENANT:CLIENT_ID:ADDRESS ...] [--unlicensed TENANT:ADDRESS ...] \\
        [--max-request-bytes 4194304] [--port-file FILE] [--record FILE] [--fault JSON] \\
        [--exit-on-stdin-eof]

Serves POST /v1.0/users/{id | userPrincipalName}/sendMail (reference:
shared/reference/cloud-apis.md section 2) and checks, in this order:

  * the request size: a body over --max-request-bytes (4 MiB, Graph's "4 MB") -> 413
    RequestBodyTooLarge;
  * the bearer token on every request: an HS256 JWT from entra_fake.py (fakebase.verify_jwt
    with --token-key, not expired, not revoked by POST /_config {"revoke_tokens": true}),
    audience https://graph.microsoft.com -> else 401 InvalidAuthenticationToken; the
    application (tid, appid) must be one of --app and hold the Mail.Send role -> else 403
    ErrorAccessDenied;
  * the mailbox {id}: it must exist in the token's tenant (--mailbox TENANT:ADDRESS, TENANT may
    be *; without any --mailbox every mailbox exists) -> else 404 ErrorInvalidUser; --unlicensed
    -> 404 MailboxNotEnabledForRESTAPI; --deny (an RBAC scope or access policy that leaves
    the mailbox out for that application) -> 403 ErrorAccessDenied;
  * the body, by Content-Type:
      text/plain: the MIME form. Base64 (line breaks allowed) of an RFC 5322 message, else 400
        ErrorMimeContentInvalidBase64String; recipients are taken from its To, Cc and Bcc
        headers (at least one, each an address) -> else 400 ErrorInvalidRecipients. Graph
        always keeps a copy in Sent Items for this form (saveToSentItems: true).
      application/json: {"message": {...}, "saveToSentItems": bool} against the message
        schema (no unknown properties; body.contentType Text|HTML; emailAddress objects;
        internetMessageHeaders names starting with x-; fileAttachment with name and valid
        base64 contentBytes; at least one recipient) -> else 400 with Graph's codes.
      anything else -> 415.

An accepted send answers 202 with an empty body and a request-id header; it is recorded with
its tenant, application, mailbox, token id, form, saveToSentItems and the decoded message: for
the MIME form the raw bytes (base64 in "mime") plus its parsed subject and To/Cc/Bcc; for the
JSON form the request body. The request record keeps only the body's size (no secrets in
requests, but the bodies can be megabytes).

Control endpoints (besides fakebase's /_requests, /_faults, /_health):
  GET  /_messages[?since=N][&subject=S]  accepted sends from index N (with that subject)
  POST /_config              {"revoke_tokens": true, "mailbox": "T:A", "app": "T:C",
                              "deny": "T:C:A", "process_delay": S}
"""

import base64
import binascii
import email.parser
import email.policy
import email.utils
import os
import re
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402
from fakebase import Reply  # noqa: E402

SEND_PATH = re.compile(r"^/v1\.0/users/([^/]+)/sendMail$")
GRAPH_AUDIENCES = {"https://graph.microsoft.com", "https://graph.microsoft.com/",
                   "00000003-0000-0000-c000-000000000000"}
ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+$")
BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$")
MESSAGE_KEYS = {"subject", "body", "from", "sender", "toRecipients", "ccRecipients", "bccRecipients",
                "replyTo", "internetMessageHeaders", "attachments", "importance", "categories",
                "isDeliveryReceiptRequested", "isReadReceiptRequested", "flag"}
ATTACHMENT_KEYS = {"@odata.type", "name", "contentType", "contentBytes", "isInline", "contentId", "size"}


def error(status, code, message, headers=None):
    h = {"request-id": str(uuid.uuid4())}
    h.update(headers or {})
    inner = {"date": email.utils.formatdate(usegmt=True), "request-id": h["request-id"],
             "client-request-id": h["request-id"]}
    return Reply.json({"error": {"code": code, "message": message, "innerError": inner}}, status, h)


class Invalid(Exception):
    """A request body Graph would refuse: (status, code, message)."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_pair(spec, parts):
    items = spec.split(":", parts - 1)
    if len(items) != parts or not all(items):
        raise fakebase.BadRequest("expected %d ':'-separated fields, got %r" % (parts, spec))
    return tuple(x.lower() for x in items)


def check_recipients(value, field):
    if not isinstance(value, list):
        raise Invalid("RequestBodyRead", "Property '%s' must be a collection." % field)
    out = []
    for r in value:
        if not isinstance(r, dict) or set(r) != {"emailAddress"} or not isinstance(r["emailAddress"], dict):
            raise Invalid("RequestBodyRead", "A recipient in '%s' is not a recipient object." % field)
        ea = r["emailAddress"]
        if set(ea) - {"address", "name"}:
            raise Invalid("RequestBodyRead", "Property '%s' does not exist on type "
                          "'microsoft.graph.emailAddress'." % sorted(set(ea) - {"address", "name"})[0])
        addr = ea.get("address")
        if not isinstance(addr, str) or not ADDRESS.match(addr):
            raise Invalid("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        if "name" in ea and not isinstance(ea["name"], str):
            raise Invalid("RequestBodyRead", "emailAddress.name must be a string.")
        out.append(addr)
    return out


def check_json_message(doc):
    """The recipients of a valid JSON sendMail body; raises Invalid otherwise."""
    if not isinstance(doc, dict):
        raise Invalid("RequestBodyRead", "The request body is not a JSON object.")
    unknown = set(doc) - {"message", "saveToSentItems"}
    if unknown:
        raise Invalid("RequestBodyRead", "The parameter '%s' in the request payload is not a valid parameter "
                      "for the operation 'sendMail'." % sorted(unknown)[0])
    if "saveToSentItems" in doc and not isinstance(doc["saveToSentItems"], bool):
        raise Invalid("RequestBodyRead", "saveToSentItems must be a boolean.")
    m = doc.get("message")
    if not isinstance(m, dict):
        raise Invalid("ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
    unknown = set(m) - MESSAGE_KEYS
    if unknown:
        raise Invalid("RequestBodyRead", "Property '%s' does not exist on type 'microsoft.graph.message'."
                      % sorted(unknown)[0])
    if "subject" in m and not isinstance(m["subject"], str):
        raise Invalid("RequestBodyRead", "subject must be a string.")
    if "body" in m:
        b = m["body"]
        if (not isinstance(b, dict) or set(b) - {"contentType", "content"} or
                str(b.get("contentType", "")).lower() not in ("text", "html") or
                not isinstance(b.get("content", ""), str)):
            raise Invalid("RequestBodyRead", "body must be {contentType: Text|HTML, content: string}.")
    for f in ("from", "sender"):
        if f in m:
            check_recipients([m[f]], f)
    recipients = []
    for f in ("toRecipients", "ccRecipients", "bccRecipients"):
        if f in m:
            recipients += check_recipients(m[f], f)
    if "replyTo" in m:
        check_recipients(m["replyTo"], "replyTo")
    if not recipients:
        raise Invalid("ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
    if "importance" in m and str(m["importance"]).lower() not in ("low", "normal", "high"):
        raise Invalid("RequestBodyRead", "importance must be low, normal or high.")
    for h in m.get("internetMessageHeaders", []):
        if not isinstance(h, dict) or set(h) != {"name", "value"} or not all(isinstance(v, str) for v in h.values()):
            raise Invalid("RequestBodyRead", "internetMessageHeaders items are {name, value} strings.")
        if not h["name"].lower().startswith("x-"):
            raise Invalid("InvalidInternetMessageHeader", "The internet message header name '%s' should start "
                          "with 'x-' or 'X-'." % h["name"])
    for a in m.get("attachments", []):
        if not isinstance(a, dict) or set(a) - ATTACHMENT_KEYS:
            raise Invalid("RequestBodyRead", "An attachment has a property that does not exist on type "
                          "'microsoft.graph.fileAttachment'.")
        if a.get("@odata.type") != "#microsoft.graph.fileAttachment":
            raise Invalid("RequestBodyRead", "Only #microsoft.graph.fileAttachment is understood here.")
        if not isinstance(a.get("name"), str) or not a["name"]:
            raise Invalid("ErrorInvalidParameter", "An attachment has no name.")
        try:
            base64.b64decode(a.get("contentBytes", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise Invalid("ErrorInvalidParameter", "Invalid base64 string for attachment content.")
        if "isInline" in a and not isinstance(a["isInline"], bool):
            raise Invalid("RequestBodyRead", "isInline must be a boolean.")
    return recipients


def parse_mime(body):
    """(raw message bytes, parsed headers dict) of a valid MIME-form body; raises Invalid."""
    if not BASE64_TEXT.match(body or b"x"):
        raise Invalid("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    try:
        raw = base64.b64decode(re.sub(rb"[\r\n]", b"", body), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    fields = {}
    for name in ("To", "Cc", "Bcc"):
        addrs = []
        for value in msg.get_all(name, []):
            for _, addr in email.utils.getaddresses([str(value)]):
                if addr:
                    addrs.append(addr)
        fields[name.lower()] = addrs
    everyone = fields["to"] + fields["cc"] + fields["bcc"]
    if not everyone:
        raise Invalid("ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
    for a in everyone:
        if not ADDRESS.match(a):
            raise Invalid("ErrorInvalidRecipients", "At least one recipient isn't valid.")
    fields["subject"] = str(msg.get("Subject")) if msg.get("Subject") is not None else None
    fields["from"] = [a for _, a in email.utils.getaddresses([str(v) for v in msg.get_all("From", [])])]
    fields["bcc_fields"] = len(msg.get_all("Bcc", []))
    return raw, fields


class GraphFake(fakebase.Fake):
    """Fake Microsoft Graph sendMail."""

    name = "graph_fake"

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--token-key", default="mailrelay-fake-entra",
                            help="HMAC key of entra_fake.py's JWTs")
        parser.add_argument("--app", action="append", default=[], help="TENANT:CLIENT_ID with Mail.Send")
        parser.add_argument("--mailbox", action="append", default=[], help="TENANT:ADDRESS (TENANT may be *)")
        parser.add_argument("--deny", action="append", default=[], help="TENANT:CLIENT_ID:ADDRESS")
        parser.add_argument("--unlicensed", action="append", default=[], help="TENANT:ADDRESS")
        parser.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024)

    def __init__(self, args):
        super().__init__(args)
        self.apps = {parse_pair(a, 2) for a in args.app}
        self.mailboxes = {parse_pair(m, 2) for m in args.mailbox}
        self.denied = {parse_pair(d, 3) for d in args.deny}
        self.unlicensed = {parse_pair(u, 2) for u in args.unlicensed}
        self.revoked = set()
        self.seen_tokens = set()
        self.messages = []
        self.process_delay = 0.0

    def control(self, req):
        if req.path == "/_messages" and req.method == "GET":
            since = int(req.arg("since", "0"))
            subject = req.arg("subject")
            with self.lock:
                found = [m for m in self.messages[since:] if subject is None or m.get("subject") == subject]
                return Reply.json({"messages": found, "count": len(self.messages)})
        if req.path == "/_config" and req.method == "POST":
            body = req.json()
            with self.lock:
                if body.get("revoke_tokens"):
                    self.revoked |= self.seen_tokens
                if "mailbox" in body:
                    self.mailboxes.add(parse_pair(body["mailbox"], 2))
                if "app" in body:
                    self.apps.add(parse_pair(body["app"], 2))
                if "deny" in body:
                    self.denied.add(parse_pair(body["deny"], 3))
                if "process_delay" in body:
                    self.process_delay = float(body["process_delay"])
            return Reply.json({"ok": True})
        return None

    def reset(self):
        self.messages = []

    def state(self):
        accepted = sum(1 for r in self.requests if r.get("outcome") == "accepted")
        return {"accepted": accepted}

    def handle(self, req):
        m = SEND_PATH.match(req.path)
        if not m:
            return error(400, "BadRequest", "Resource not found for the segment '%s'."
                         % (req.path.strip("/").split("/") or [""])[0])
        req.record_body = "<%d bytes>" % len(req.body)
        reply = self._send(req, m.group(1))
        if reply.status != 202:
            try:
                req.note["outcome"] = fakebase.json.loads(reply.body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                req.note["outcome"] = "error"
        else:
            req.note["outcome"] = "accepted"
        return reply

    def _send(self, req, user):
        if req.method != "POST":
            return error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        if len(req.body) > self.args.max_request_bytes:
            return error(413, "RequestBodyTooLarge", "The maximum request length supported is 4MB.")
        auth = req.header("authorization") or ""
        req.redacted_headers.add("authorization")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "InvalidAuthenticationToken", "Access token is empty.",
                         {"WWW-Authenticate": 'Bearer realm=""'})
        claims = fakebase.verify_jwt(token, self.args.token_key)
        if claims is None:
            return error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature "
                         "or expired.", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        jti = claims.get("jti")
        with self.lock:
            self.seen_tokens.add(jti)
            revoked = jti in self.revoked
        if revoked:
            return error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if claims.get("aud") not in GRAPH_AUDIENCES:
            return error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        tenant, app = str(claims.get("tid", "")).lower(), str(claims.get("appid", "")).lower()
        req.note.update({"tenant": tenant, "appid": app, "token_id": jti})
        if (tenant, app) not in self.apps or "Mail.Send" not in (claims.get("roles") or []):
            return error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        mailbox = user.lower()
        req.note["mailbox"] = mailbox
        with self.lock:
            exists = not self.mailboxes or (tenant, mailbox) in self.mailboxes or ("*", mailbox) in self.mailboxes
            unlicensed = (tenant, mailbox) in self.unlicensed
            denied = (tenant, app, mailbox) in self.denied
            delay = self.process_delay
        if not exists:
            return error(404, "ErrorInvalidUser", "The requested user '%s' is invalid." % user)
        if unlicensed:
            return error(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is "
                         "hosted on-premise.")
        if denied:
            return error(403, "ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant "
                         "configured AppOnly AccessPolicy settings.")
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        record = {"tenant": tenant, "appid": app, "mailbox": mailbox, "token_id": jti,
                  "client_request_id": req.header("client-request-id"), "request_bytes": len(req.body)}
        try:
            if content_type == "text/plain":
                raw, fields = parse_mime(req.body)
                record.update({"form": "mime", "save_to_sent_items": True,
                               "mime": base64.b64encode(raw).decode("ascii"), "size": len(raw),
                               "subject": fields["subject"], "from": fields["from"], "to": fields["to"],
                               "cc": fields["cc"], "bcc": fields["bcc"], "bcc_fields": fields["bcc_fields"]})
            elif content_type == "application/json":
                doc = req.json()
                check_json_message(doc)
                msg = doc["message"]
                addrs = lambda f: [r["emailAddress"]["address"] for r in msg.get(f, [])]  # noqa: E731
                record.update({"form": "json", "save_to_sent_items": doc.get("saveToSentItems", True),
                               "json": doc, "subject": msg.get("subject"), "to": addrs("toRecipients"),
                               "cc": addrs("ccRecipients"), "bcc": addrs("bccRecipients")})
            else:
                return error(415, "UnsupportedMediaType", "Content-Type '%s' is not supported." % content_type)
        except Invalid as e:
            return error(e.status, e.code, e.message)
        except fakebase.BadRequest as e:
            return error(400, "RequestBodyRead", str(e))
        if delay:
            self.stop.wait(delay)
        request_id = str(uuid.uuid4())
        record["request_id"] = request_id
        with self.lock:
            record["seq"] = len(self.messages)
            self.messages.append(record)
        req.note["request_id"] = request_id
        req.note.update({k: record[k] for k in ("form", "save_to_sent_items", "subject", "to", "cc", "bcc")})
        return Reply(202, b"", {"request-id": request_id,
                                "client-request-id": req.header("client-request-id") or request_id})


if __name__ == "__main__":
    sys.exit(fakebase.main(GraphFake))
