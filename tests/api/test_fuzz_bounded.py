"""Issue 16, item 6 (fuzz half): a bounded, seeded fuzz over every operation of the shipped
models, in process: zero 5xx and zero untyped answers.

For each operation, bodies are generated from its input shape - first well-formed ones
(every required member, values within the shape's enum, length and range; ARNs from earlier
answers when there are some), then mutated: a member of the wrong type, a huge string, JSON
nested 1,000 deep, invalid UTF-8 bytes, a lone surrogate escape, a truncated or padded
envelope. Every answer must be below 500, and every error must carry `__type` and `message`.
The run is seeded (FUZZ_SEED, default 16) so a failure repeats; FUZZ_REQUESTS sets how many
requests (default 5,000, spread over the operations); the count and time are printed.
"""
import json
import os
import random
import re
import time

from chalicelib.protocol.models import service_model

SERVICES = ("personalize", "personalize-runtime", "personalize-events")
REQUESTS = int(os.environ.get("FUZZ_REQUESTS") or 5000)
SEED = int(os.environ.get("FUZZ_SEED") or 16)
ARN = re.compile(r"^arn:aws:personalize:")
WORDS = ("x", "movies", "s3://personalize-data/ratings.csv", "rate(1 day)", "click", "ACTIVE",
         "arn:aws:iam::000000000000:role/r", "arn:aws:personalize:::recipe/aws-hrnn", "")


class Fuzzer:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.arns = []

    # ---- well-formed values -----------------------------------------------------------------

    def value(self, shape, depth=0):
        kind = shape.type_name
        rng = self.rng
        if kind == "structure":
            out = {}
            for name, member in shape.members.items():
                if name in shape.required_members or (depth < 3 and rng.random() < 0.3):
                    out[name] = self.value(member, depth + 1)
            return out
        if kind == "list":
            lo = shape.metadata.get("min", 0)
            return [self.value(shape.member, depth + 1) for _ in range(max(lo, rng.randint(0, 2)))]
        if kind == "map":
            return {self.string(shape.key): self.value(shape.value, depth + 1)
                    for _ in range(rng.randint(0, 2))}
        if kind == "string":
            return self.string(shape)
        if kind in ("integer", "long"):
            lo, hi = shape.metadata.get("min", 0), shape.metadata.get("max", 1000)
            return rng.randint(int(lo), int(min(hi, lo + 1000)))
        if kind in ("float", "double"):
            return rng.uniform(shape.metadata.get("min", 0), shape.metadata.get("max", 10))
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "timestamp":
            return rng.choice([1_600_000_000, 0, "2020-01-01T00:00:00Z"])
        if kind == "blob":
            return "eyJpZCI6ICJpMSJ9"
        return None

    def string(self, shape):
        rng = self.rng
        if shape.enum and rng.random() < 0.8:
            return rng.choice(shape.enum)
        if self.arns and shape.name.lower().endswith("arn") and rng.random() < 0.7:
            return rng.choice(self.arns)
        text = rng.choice(WORDS) if rng.random() < 0.6 else \
            "".join(rng.choice("abcXYZ019-_./:") for _ in range(rng.randint(1, 20)))
        lo, hi = shape.metadata.get("min", 0), shape.metadata.get("max")
        text = text + "x" * max(0, lo - len(text))
        return text[:hi] if hi else text

    # ---- mutations ----------------------------------------------------------------------------

    def wrong(self):
        return self.rng.choice([None, True, -1, 1e308, "x" * 70_000, [], {}, [[[]]],
                                {"a": {"b": [1, "2"]}}, "\u0000", "\U0001F600" * 3])

    def mutate_value(self, body):
        """Replace one member somewhere in `body` with a wrong value (or add an unknown one)."""
        target, path = body, []
        while isinstance(target, (dict, list)) and target and self.rng.random() < 0.6:
            key = self.rng.choice(list(target)) if isinstance(target, dict) \
                else self.rng.randrange(len(target))
            if not isinstance(target[key], (dict, list)):
                break
            target = target[key]
        if isinstance(target, dict):
            keys = list(target) or ["unknownMember"]
            target[self.rng.choice(keys + ["unknownMember"])] = self.wrong()
        elif isinstance(target, list):
            target.append(self.wrong())
        return body

    def encoded(self, body):
        """The request bytes: JSON of `body`, sometimes broken on the way."""
        text = json.dumps(body)
        choice = self.rng.random()
        if choice < 0.55:
            return text.encode()
        if choice < 0.65:
            return (b'{"a":' * 1000) + b"1" + (b"}" * 1000)
        if choice < 0.72:   # a lone surrogate in some string
            return re.sub(r'":\s*"', '": "\\\\ud800', text, count=1).encode()
        if choice < 0.79:   # invalid UTF-8 bytes
            raw = text.encode()
            at = self.rng.randrange(len(raw) + 1)
            return raw[:at] + self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + raw[at:]
        if choice < 0.86:
            return text.encode()[:max(1, len(text) // 2)]
        if choice < 0.91:
            return b"[" * 100_000
        if choice < 0.95:
            return json.dumps([body]).encode()
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 64)))

    def collect_arns(self, answer):
        if isinstance(answer, dict):
            for v in answer.values():
                self.collect_arns(v)
        elif isinstance(answer, list):
            for v in answer:
                self.collect_arns(v)
        elif isinstance(answer, str) and ARN.match(answer) and answer not in self.arns:
            self.arns.append(answer)


def operations():
    out = []
    for service in SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            out.append((service, model, model.operation_model(name)))
    return out


def request_for(model, op):
    """(path, method, target, content type) of an operation."""
    if model.metadata["protocol"] == "json":
        return "/", "POST", op.name, "application/x-amz-json-1.1"
    uri = op.http["requestUri"].split("?")[0]
    return uri, op.http.get("method", "POST"), None, "application/json"


def test_bounded_fuzz_of_every_operation(raw):
    fuzzer = Fuzzer(SEED)
    ops = operations()
    per_op = max(1, -(-REQUESTS // len(ops)))
    sent, statuses, bad = 0, {}, []
    started = time.monotonic()
    for round_ in range(per_op):
        for service, model, op in ops:
            path, method, target, content_type = request_for(model, op)
            body = fuzzer.value(op.input_shape) if op.input_shape is not None else {}
            if round_ % 3:   # a third of the rounds send the well-formed body as it is
                body = fuzzer.mutate_value(body) if fuzzer.rng.random() < 0.5 else body
                payload = fuzzer.encoded(body)
            else:
                payload = json.dumps(body).encode()
            status, _, answer = raw(path=path, body=payload, method=method, target=target,
                                    content_type=content_type)
            sent += 1
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 500 or (status >= 400 and not (
                    isinstance(answer, dict) and answer.get("__type") and "message" in answer)):
                bad.append((op.name, status, payload[:300], answer))
            elif status == 200:
                fuzzer.collect_arns(answer)
    seconds = time.monotonic() - started
    print(f"\nfuzz: {sent} requests over {len(ops)} operations in {seconds:.1f}s "
          f"(seed {SEED}); statuses {dict(sorted(statuses.items()))}")
    assert sent >= REQUESTS
    assert not bad, f"{len(bad)} bad answers, first: {bad[:3]}"
