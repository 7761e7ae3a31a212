"""A request body is decoded once (issue 15: fixed costs per request): the logging middleware
and the dispatcher read the same bytes object."""
import json

from chalicelib.protocol import jsontext


def test_the_same_body_is_decoded_once(monkeypatch):
    calls = []
    real = json.loads
    monkeypatch.setattr(jsontext.json, "loads", lambda text: calls.append(text) or real(text))
    body = json.dumps({"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c"}).encode()
    first = jsontext.load_json(body)
    assert jsontext.load_json(body) == first and len(calls) == 1
    same_text = bytes(bytearray(body))          # another request with equal bytes: decoded anew
    assert jsontext.load_json(same_text) == first and len(calls) == 2
    assert jsontext.load_json(body, what="properties") == first and len(calls) == 3
