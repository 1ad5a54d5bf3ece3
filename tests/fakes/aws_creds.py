#!/usr/bin/python3
"""Temporary AWS credentials shared by the credential fakes and the SES fake.

The IMDS, ECS and STS fakes issue temporary credentials; the SES fake must recognise them
without talking to those fakes. So every temporary credential is derived from one shared key
(--temp-key, same default everywhere):

    AccessKeyId      "ASIA" + 16 random characters
    SecretAccessKey  base64(HMAC-SHA256(key, "secret:" + AccessKeyId))[:40]
    SessionToken     an HS256 JWT (fakebase.make_jwt) with the AccessKeyId, the issuer and
                     the expiry, signed with the same key

and the SES fake checks, as AWS does, that the session token belongs to the key id, was not
forged and has not expired. Long-term keys ("AKIA...") are configured in the SES fake with
--credential AKID:SECRET. Stdlib only.
"""

import base64
import datetime
import hashlib
import hmac
import os
import random
import string
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakebase  # noqa: E402

DEFAULT_KEY = "mailrelay-fake-aws"


def iso8601(epoch):
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def secret_for(key, access_key_id):
    digest = hmac.new(key.encode(), ("secret:" + access_key_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")[:40]


def issue(key, lifetime, issuer, extra=None, now=None):
    """A fresh set of temporary credentials valid for `lifetime` seconds."""
    now = time.time() if now is None else now
    rng = random.SystemRandom()
    akid = "ASIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    expires = int(now + lifetime)
    claims = {"akid": akid, "iss": issuer, "iat": int(now), "exp": expires}
    claims.update(extra or {})
    return {"AccessKeyId": akid, "SecretAccessKey": secret_for(key, akid),
            "Token": fakebase.make_jwt(claims, key), "Expiration": iso8601(expires),
            "expires": expires}


def check_session_token(key, access_key_id, token, now=None):
    """(error_code, message) if `token` is not a live token for `access_key_id`, else
    (None, claims)."""
    now = time.time() if now is None else now
    claims = fakebase.verify_jwt(token, key, now=0)  # expiry checked below, to say which
    if claims is None or claims.get("akid") != access_key_id:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    if claims.get("exp", 0) <= now:
        return "ExpiredTokenException", "The security token included in the request is expired"
    return None, claims
