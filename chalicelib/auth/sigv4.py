"""Signature Version 4 verification of an incoming request.

The expected signature is computed by botocore's own signer (`SigV4Auth`): the
request is rebuilt as an `AWSRequest` with exactly the headers the client listed
in `SignedHeaders`, the timestamp it signed (`X-Amz-Date`) and the path it signed,
and botocore's canonical request, string to sign and signing-key derivation run
unchanged. Only the parsing of the `Authorization` header, the checks AWS makes
before signing (scope, region, service, clock skew) and the constant-time
comparison are ours. Error codes and messages are the AWS JSON services'.

Scopes accepted: the signing name botocore's models give all three services
(`personalize`, for personalize, personalize-runtime and personalize-events) and
`execute-api`, for clients that sign for API Gateway.

Behind a proxy the path the client signed is not always the path the function
sees (API Gateway puts the stage in front, ministack's `/restapis/<id>/<stage>/
_user_request_` form even more); the caller passes every form the request can have
had, and a signature valid for any of them is accepted: the signature still binds
method, route, headers, body and time.
"""
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from chalicelib.auth.errors import (IncompleteSignatureException, InvalidSignatureException,
                                    MissingAuthenticationTokenException,
                                    UnrecognizedClientException)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICES = ("personalize", "execute-api")
MAX_SKEW = timedelta(minutes=5)
MAX_AUTHORIZATION = 4096      # characters; a real header is ~250
MAX_SIGNED_HEADERS = 64
_TIMESTAMP = re.compile(r"^\d{8}T\d{6}Z$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_AMZ_FORMAT = "%Y%m%dT%H%M%SZ"


class Signed:
    """What a well-formed Authorization header says."""

    __slots__ = ("access_key", "date", "region", "service", "signed_headers", "signature",
                 "timestamp")

    def __init__(self, access_key, date, region, service, signed_headers, signature, timestamp):
        self.access_key, self.date, self.region, self.service = access_key, date, region, service
        self.signed_headers, self.signature, self.timestamp = signed_headers, signature, timestamp


def parse(headers):
    """The Authorization header of `headers` (lower-cased names) -> `Signed`, or the
    typed error AWS gives for what is missing or malformed."""
    authorization = headers.get("authorization")
    if not authorization:
        raise MissingAuthenticationTokenException()
    if len(authorization) > MAX_AUTHORIZATION:
        raise IncompleteSignatureException("Authorization header is too long.")
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm[:40]}'")
    fields = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise IncompleteSignatureException(" ".join(
            f"Authorization header requires '{n}' parameter." for n in missing))
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term.")
    signed_headers = fields["SignedHeaders"].split(";")
    if len(signed_headers) > MAX_SIGNED_HEADERS or not all(
            _HEADER_NAME.match(h) for h in signed_headers):
        raise IncompleteSignatureException("SignedHeaders is malformed.")
    if "host" not in signed_headers:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed_headers:
        if name not in headers:
            raise IncompleteSignatureException(f"Signed header '{name}' is not in the request.")
    if not _SIGNATURE.match(fields["Signature"]):
        raise IncompleteSignatureException("Signature must be 64 lower-case hexadecimal digits.")
    timestamp = headers.get("x-amz-date")
    if not timestamp:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if not _TIMESTAMP.match(timestamp):
        raise IncompleteSignatureException(f"X-Amz-Date '{timestamp[:40]}' is not an ISO-8601 "
                                           "basic-format timestamp (YYYYMMDD'T'HHMMSS'Z').")
    key, date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise InvalidSignatureException("Credential should be scoped with a valid terminator: "
                                        f"'aws4_request', not '{terminator[:40]}'.")
    return Signed(key, date, region, service, signed_headers, fields["Signature"], timestamp)


def check_scope(signed, region, now=None):
    """The checks AWS makes before it looks at the signature: date, region, service, skew."""
    if signed.date != signed.timestamp[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{signed.date[:16]}' != '{signed.timestamp[:8]}', from "
            f"'{signed.timestamp}'.")
    if signed.region != region:
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region, not '{signed.region[:40]}'. ")
    if signed.service not in SERVICES:
        raise InvalidSignatureException(
            f"Credential should be scoped to correct service: '{SERVICES[0]}'. ")
    when = _amz_date(signed.timestamp)
    now = now or datetime.now(timezone.utc)
    if when < now - MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {signed.timestamp} is now earlier than "
            f"{(now - MAX_SKEW).strftime(_AMZ_FORMAT)} ({now.strftime(_AMZ_FORMAT)} - 5 min.)")
    if when > now + MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {signed.timestamp} is still later than "
            f"{(now + MAX_SKEW).strftime(_AMZ_FORMAT)} ({now.strftime(_AMZ_FORMAT)} + 5 min.)")


def _amz_date(timestamp):
    """`X-Amz-Date` (`parse` checked its YYYYMMDD'T'HHMMSS'Z' digits) as a UTC datetime; the
    fields read directly, as strptime would read them at a tenth of its cost."""
    t = timestamp
    try:
        return datetime(int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]),
                        int(t[13:15]), tzinfo=timezone.utc)
    except ValueError:
        raise IncompleteSignatureException(f"X-Amz-Date '{timestamp}' is not a date.") from None


class _ExpectedSigner(SigV4Auth):
    """botocore's signer, told which headers the client signed (instead of choosing
    them itself) and with the signing key derived once per key, day, region and service."""

    def __init__(self, credentials, service, region, signed_headers):
        super().__init__(credentials, service, region)
        self._signed = signed_headers

    def headers_to_sign(self, request):
        chosen = HTTPHeaders()
        for name in self._signed:
            chosen[name] = request.headers[name]
        return chosen

    def signature(self, string_to_sign, request):
        key = _signing_key(self.credentials.secret_key, request.context["timestamp"][:8],
                           self._region_name, self._service_name)
        return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@lru_cache(maxsize=1024)
def _signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def expected_signature(signed, secret, method, path, query, headers, body):
    """The signature botocore computes for this request with `secret`."""
    request = AWSRequest(method=method, url=f"https://{headers['host']}{path}",
                         headers={n: headers[n] for n in signed.signed_headers},
                         data=body or b"", params=dict(query or {}))
    request.context["timestamp"] = signed.timestamp
    signer = _ExpectedSigner(Credentials(signed.access_key, secret), signed.service,
                             signed.region, signed.signed_headers)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def verify(method, paths, query, headers, body, secret_for, region, now=None):
    """Check the request's signature; return the access key id it was signed with.

    `headers` has lower-cased names; `paths` are the forms of the path the client may
    have signed; `secret_for(access_key_id)` gives the key's secret or None."""
    signed = parse(headers)
    check_scope(signed, region, now)
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body or b"").hexdigest():
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")
    secret = secret_for(signed.access_key)
    if secret is None:
        raise UnrecognizedClientException()
    for path in dict.fromkeys(paths):
        expected = expected_signature(signed, secret, method, path, query, headers, body)
        if hmac.compare_digest(expected, signed.signature):
            return signed.access_key
    raise InvalidSignatureException(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.")
