"""SigV4 verification (chalicelib/auth/sigv4.py) against requests botocore signs.

Every failure is a typed error with AWS's code and a 4xx status; hypothesis throws
garbage Authorization headers at the parser."""
import datetime
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.auth import sigv4
from chalicelib.auth.errors import (IncompleteSignatureException, InvalidSignatureException,
                                    MissingAuthenticationTokenException,
                                    UnrecognizedClientException)
from chalicelib.protocol.errors import ServiceError
from tests.support.access import sign

URL = "https://api.example/recommendations"
BODY = b'{"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/c"}'
KEYS = {"AKIDEXAMPLE": "secret/example+key"}
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0)


def _signed(body=BODY, url=URL, **kwargs):
    kwargs.setdefault("key", ("AKIDEXAMPLE", KEYS["AKIDEXAMPLE"]))
    kwargs.setdefault("when", NOW)
    headers = sign("POST", url, body, {"Content-Type": "application/json"}, **kwargs)
    return {k.lower(): v for k, v in headers.items()}


def _verify(headers, body=BODY, paths=("/recommendations",), now=NOW, region="us-east-1"):
    return sigv4.verify("POST", list(paths), {}, headers, body, KEYS.get, region,
                        now.replace(tzinfo=datetime.timezone.utc))


def test_a_request_botocore_signed_verifies():
    assert _verify(_signed()) == "AKIDEXAMPLE"


def test_session_token_is_signed_and_accepted():
    headers = _signed(token="any-token")
    assert "x-amz-security-token" in headers["authorization"]
    assert _verify(headers) == "AKIDEXAMPLE"
    headers["x-amz-security-token"] = "changed"
    with pytest.raises(InvalidSignatureException):
        _verify(headers)


def test_execute_api_scope_is_accepted_other_services_are_not():
    assert _verify(_signed(service="execute-api")) == "AKIDEXAMPLE"
    with pytest.raises(InvalidSignatureException, match="correct service"):
        _verify(_signed(service="s3"))


def test_unsigned_request_is_missing_the_token():
    with pytest.raises(MissingAuthenticationTokenException) as e:
        _verify({"host": "api.example", "content-type": "application/json"})
    assert e.value.status == 403


def test_unknown_key_is_unrecognized():
    with pytest.raises(UnrecognizedClientException) as e:
        _verify(_signed(key=("AKIDUNKNOWN", "whatever")))
    assert e.value.status == 403


@pytest.mark.parametrize("change", ["secret", "body", "path", "header", "method"])
def test_forged_requests_do_not_match(change):
    headers = _signed(key=("AKIDEXAMPLE", "not-the-secret")) if change == "secret" else _signed()
    body, paths = BODY, ("/recommendations",)
    if change == "body":
        body = BODY.replace(b'/c"', b'/other"')
    if change == "path":
        paths = ("/events",)
    if change == "header":
        headers["content-type"] = "application/x-amz-json-1.1"
    with pytest.raises(InvalidSignatureException, match="does not match") as e:
        if change == "method":
            sigv4.verify("PUT", list(paths), {}, headers, body, KEYS.get, "us-east-1",
                         NOW.replace(tzinfo=datetime.timezone.utc))
        else:
            _verify(headers, body, paths)
    assert e.value.status == 403


def test_skew_beyond_five_minutes_is_expired_in_the_services_words():
    with pytest.raises(InvalidSignatureException) as e:
        _verify(_signed(when=datetime.datetime(2000, 1, 1)))
    assert e.value.message == ("Signature expired: 20000101T000000Z is now earlier than "
                               "20240501T115500Z (20240501T120000Z - 5 min.)")
    with pytest.raises(InvalidSignatureException, match="Signature not yet current"):
        _verify(_signed(when=NOW + datetime.timedelta(minutes=6)))
    assert _verify(_signed(when=NOW - datetime.timedelta(minutes=4))) == "AKIDEXAMPLE"


@pytest.mark.parametrize("stamp", ["20241301T120000Z", "20240230T120000Z", "20240501T240000Z",
                                   "20240501T126000Z", "00000501T120000Z"])
def test_a_timestamp_that_is_no_date_is_refused_by_name(stamp):
    """Well-formed digits that name no instant (month 13, 30 February, hour 24, minute 60,
    year 0): the signature is not looked at."""
    headers = _signed()
    headers["x-amz-date"] = stamp
    headers["authorization"] = headers["authorization"].replace("/20240501/", f"/{stamp[:8]}/")
    with pytest.raises(IncompleteSignatureException) as e:
        _verify(headers)
    assert e.value.message == f"X-Amz-Date '{stamp}' is not a date."


def test_wrong_region_is_refused():
    with pytest.raises(InvalidSignatureException, match="valid region, not 'eu-west-1'"):
        _verify(_signed(region="eu-west-1"))


def test_the_path_behind_a_proxy_is_one_of_the_candidates():
    signed = _signed(url="http://127.0.0.1:4566/restapis/abc123/api/_user_request_/recommendations")
    paths = sigv4_paths = ["/api/recommendations",
                           "/restapis/abc123/api/_user_request_/recommendations",
                           "/recommendations"]
    assert _verify(signed, paths=paths) == "AKIDEXAMPLE"
    with pytest.raises(InvalidSignatureException):
        _verify(signed, paths=[p for p in sigv4_paths if "restapis" not in p])


def test_declared_payload_hash_must_be_the_bodys():
    headers = _signed()
    headers["x-amz-content-sha256"] = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        _verify(headers)


def _replace(headers, old, new):
    return {**headers, "authorization": headers["authorization"].replace(old, new)}


@pytest.mark.parametrize("mangle", [
    lambda h: {**h, "authorization": "Bearer abc"},
    lambda h: {**h, "authorization": "AWS4-HMAC-SHA256"},
    lambda h: {**h, "authorization": "AWS4-HMAC-SHA256 Credential=a/b/c, Signature=00"},
    lambda h: _replace(h, "Credential=AKIDEXAMPLE/", "Credential=AKIDEXAMPLE//"),
    lambda h: _replace(h, "SignedHeaders=", "SignedHeaders=x-amz-nothing;"),
    lambda h: _replace(h, "SignedHeaders=", "SignedHeaders=Bad Header;"),
    lambda h: _replace(h, "host;", ""),
    lambda h: _replace(h, "Signature=", "Signature=zz"),
    lambda h: {k: v for k, v in h.items() if k != "x-amz-date"},
    lambda h: {**h, "x-amz-date": "2024-05-01 12:00"},
    lambda h: {**h, "authorization": h["authorization"] + "x" * 10000},
], ids=["scheme", "no-fields", "missing-fields", "short-credential", "absent-signed-header",
        "bad-header-name", "host-not-signed", "bad-signature", "no-date", "bad-date", "huge"])
def test_malformed_authorization_is_incomplete(mangle):
    with pytest.raises(IncompleteSignatureException) as e:
        _verify(mangle(_signed()))
    assert e.value.status == 400


def test_huge_signed_header_changed_in_flight_is_refused():
    headers = sign("POST", URL, BODY, {"X-Padding": "p" * 20000},
                   key=("AKIDEXAMPLE", KEYS["AKIDEXAMPLE"]), when=NOW)
    headers = {k.lower(): v for k, v in headers.items()}
    assert _verify(headers) == "AKIDEXAMPLE"
    headers["x-padding"] = "q" * 20000
    with pytest.raises(InvalidSignatureException):
        _verify(headers)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(authorization=st.one_of(
    st.text(max_size=300),
    st.builds(lambda a, b, c: f"AWS4-HMAC-SHA256 Credential={a}, SignedHeaders={b}, Signature={c}",
              st.text(max_size=80), st.text(max_size=40), st.text(max_size=70))),
    date=st.one_of(st.none(), st.text(max_size=20), st.just("20240501T120000Z")))
def test_garbage_gets_typed_4xx_only(authorization, date):
    headers = {"host": "api.example", "authorization": authorization}
    if date is not None:
        headers["x-amz-date"] = date
    with pytest.raises(ServiceError) as e:
        _verify(headers)
    assert 400 <= e.value.status < 500 and e.value.code.endswith("Exception")


def test_gate_offers_every_form_a_proxy_can_have_received():
    from chalicelib.auth import gate
    context = {"path": "/api/", "stage": "api", "apiId": "abc123"}
    paths = gate.signed_paths("/", context)
    # botocore with endpoint .../_user_request_ (no slash) signs the control plane's "/" so
    for expected in ("/api/", "/restapis/abc123/api/_user_request_/",
                     "/restapis/abc123/api/_user_request_", "/api", "/"):
        assert expected in paths
    assert gate.signed_paths("/events", {"path": "/events"}) == ["/events", "/events"]
