"""The merged models against the seed, member by member.

Reads the seed's "API Reference" (every action: request members, response
members, errors) and "Data Types" (every structure) and checks that each
member is in the merged model with the seed's type and constraints, widened
only where today's stock model is wider (the rule for members on which the
two disagree: accept requests from both kinds of client).

The helpers here (`seed_actions`, `seed_operations`, `seed_data_types`) are
also used by test_models.py.
"""
import functools
import os
import re

import pytest

from chalicelib.protocol import models
from tests.conftest import SHARED

SEED = os.environ.get(
    "PERSONALIZE_SEED", os.path.join(SHARED, "seed", "amazon-personalize-developer-guide-2019.md"))

pytestmark = pytest.mark.skipif(not os.path.exists(SEED), reason="seed document not available")

SERVICE_OF = {"PutEvents": "personalize-events", "GetRecommendations": "personalize-runtime",
              "PersonalizeRanking": "personalize-runtime", "Event": "personalize-events",
              "PredictedItem": "personalize-runtime"}

# ------------------------------------------------------------ reading the seed

_NOISE = re.compile(r"\\?\(p\. ?\d+\\?\)|\(#\)|[#*\[\]`]")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_FIELDS = ("Type", "Length Constraints", "Pattern", "Valid Values", "Required", "Array Members",
           "Valid Range", "Key Length Constraints", "Value Length Constraints", "Key Pattern")


def _clean(line):
    return _NOISE.sub("", line).strip()


@functools.lru_cache(maxsize=None)
def seed_lines():
    with open(SEED, encoding="utf-8") as f:
        return tuple(f.read().splitlines())


def _index(text, start=0):
    return next(i for i, l in enumerate(seed_lines()) if i >= start and l.strip() == text)


def seed_actions():
    """Operation names, in order, from the "Actions" list of the API Reference."""
    lines = seed_lines()
    i = _index("## Actions", _index("# API Reference"))
    ops = []
    for line in lines[i + 1:]:
        if line.startswith("## ") and ops:
            break
        m = re.match(r"^- \[([A-Za-z]+)(?: \\\(p\. \d+\\\))?\]", line.strip())
        if m:
            ops.append(m.group(1))
    return ops


def _members(block):
    """Members of a block: a name line, prose, then "Type:", constraint and "Required:" lines."""
    members, cur = [], None
    for idx, raw in enumerate(block):
        text = _clean(raw)
        if not text:
            continue
        if _IDENT.match(text) and not text.endswith("Exception") and text != "Contents":
            for nxt in block[idx + 1:]:
                t = _clean(nxt)
                if t.startswith("Type:"):
                    cur = {"name": text}
                    members.append(cur)
                    break
                if _IDENT.match(t):
                    break
            continue
        if cur is None:
            continue
        for key in _FIELDS:
            if raw.strip().startswith(key + ":"):
                value = raw.strip()[len(key) + 1:].strip()
                cur[key] = cur[key] + " || " + value if key in cur else value
                break
            if text.startswith(key + ":"):
                cur.setdefault(key, text[len(key) + 1:].strip())
                break
    return members


@functools.lru_cache(maxsize=None)
def seed_operations():
    """{operation: {"request": [...], "response": [...], "errors": [...]}}."""
    lines = seed_lines()
    names = set(seed_actions())
    start, types_at = _index("# API Reference"), _index("## Data Types")
    heads = [i for i in range(start, types_at)
             if lines[i].startswith("#") and _clean(lines[i]) in names
             and not lines[i].startswith("- ")]
    # the first mentions are the Actions lists; an operation section starts with "Service:"
    heads = [i for i in heads if any(l.startswith("Service:") for l in lines[i + 1:i + 4])]
    out = {}
    for n, i in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else types_at
        parts, mode = {"request": [], "response": [], "errors": []}, None
        for line in lines[i:end]:
            t = _clean(line)
            if t in ("Request Parameters", "Request Body"):
                mode = "request"
            elif t == "Response Elements":
                mode = "response"
            elif t == "Errors":
                mode = "errors"
            elif t in ("See Also", "Response Syntax"):
                mode = None
            elif mode:
                parts[mode].append(line)
        out[_clean(lines[i])] = {
            "request": _members(parts["request"]),
            "response": _members(parts["response"]),
            "errors": [_clean(l) for l in parts["errors"]
                       if re.fullmatch(r"[A-Za-z]+Exception", _clean(l))]}
    return out


@functools.lru_cache(maxsize=None)
def seed_data_types():
    """{type name: [members]} from the "Data Types" chapter."""
    lines = seed_lines()
    start = _index("## Data Types")
    end = _index("## Common Errors", start)
    heads = [i for i in range(start + 1, end)
             if lines[i].startswith("## ") and _IDENT.match(_clean(lines[i]))
             and any(_clean(l) == "Contents" for l in lines[i + 1:i + 12])]
    return {_clean(lines[i]): _members(lines[i:(heads[n + 1] if n + 1 < len(heads) else end)])
            for n, i in enumerate(heads)}


# ------------------------------------------------------------ seed constraints

def _numbers(text, word):
    """(min, max) from "Minimum <word> of N. Maximum <word> of M." (either may be absent)."""
    lo = re.search(rf"Minimum {word} of (-?\d+)", text or "")
    hi = re.search(rf"Maximum {word} of (-?\d+)", text or "")
    return (int(lo.group(1)) if lo else None, int(hi.group(1)) if hi else None)


def fix_seed_pattern(pattern):
    """The seed's patterns as intended: the PDF conversion dropped `+` after
    `arn:([a-z\\d-])` in some places and mangled the IAM role pattern in
    several different ways; all its IAM role patterns mean today's one."""
    p = pattern.strip().strip("`")
    if ":iam::" in p:
        return r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
    return p.replace(r"arn:([a-z\d-]):", r"arn:([a-z\d-]+):")


def _tree(pattern):
    """A comparable parse tree: patterns that differ only in escaping or
    character-class order compare equal."""
    parser = getattr(re, "_parser", None)
    if parser is None:  # pragma: no cover - Python < 3.11
        import sre_parse as parser

    def norm(node):
        if isinstance(node, (list, tuple)) or type(node).__name__ == "SubPattern":
            items = [norm(x) for x in node]
            return tuple(items)
        return str(node) if type(node).__name__ == "_NamedIntConstant" else node

    def canon(node):
        if isinstance(node, tuple) and len(node) == 2 and node[0] == "IN":
            return ("IN", tuple(sorted(map(repr, node[1]))))
        if isinstance(node, tuple):
            return tuple(canon(x) for x in node)
        return node
    return canon(norm(parser.parse(pattern)))


def same_pattern(a, b):
    return a == b or (a is not None and b is not None and _tree(a) == _tree(b))


# ------------------------------------------------------------ the models

@functools.lru_cache(maxsize=None)
def merged(service):
    return models.merged_documents(service)["service-2"]


@functools.lru_cache(maxsize=None)
def stock(service):
    return models.stock_documents(service)["service-2"]


# Members the seed requires that today's API makes optional only for the sake
# of resources this service does not serve: they stay required.
KEPT_REQUIRED = set()
# The seed's own chapters omit these: Getting Started and "Creating a Campaign" call
# CreateCampaign with solutionArn (a member its API Reference lacks) and no solutionVersionArn.
RELAXED_REQUIRED = {
    ("CreateCampaign.input", "solutionVersionArn"),
    # today's alternative is recommenderArn (exactly one of the two, checked by the server)
    ("GetRecommendations.input", "campaignArn"),
    # and "Getting Started (AWS CLI)" calls create-dataset without --name
    ("CreateDataset.input", "name"),
}


def _member_ref(doc, struct_name, member):
    shape = doc["shapes"].get(struct_name) if struct_name else None
    if shape is None:
        return None, None
    return shape, shape.get("members", {}).get(member)


def _expected_bound(seed_value, stock_shape, key, present_in_stock, lower):
    """The merged bound: the seed's, widened to the stock's when the stock has the member."""
    if not present_in_stock:
        return seed_value
    stock_value = stock_shape.get(key) if stock_shape else None
    if seed_value is None or stock_value is None:
        return None
    return min(seed_value, stock_value) if lower else max(seed_value, stock_value)


def _norm_min(value):
    return None if value in (None, 0) else value


def _wider_stock_shape(sdoc, name, key, got, want, lower):
    """A new member may reuse a stock shape whose bound is wider than the
    seed's (the shape also serves stock operations, e.g. NextToken): accept
    that bound when it is the stock shape's own and at least as wide."""
    stock_shape = sdoc["shapes"].get(name)
    if stock_shape is None or stock_shape.get(key) != got:
        return False
    if got is None:
        return True
    if want is None:
        return lower and got <= 0
    return got <= want if lower else got >= want


def check_member(service, where, struct_name, stock_struct, m, new_structure):
    """Problems (strings) for seed member ``m`` of ``struct_name``."""
    doc, sdoc = merged(service), stock(service)
    shape, ref = _member_ref(doc, struct_name, m["name"])
    label = f"{where}.{m['name']}"
    if ref is None:
        return [f"{label}: missing from the merged model"]
    sshape, sref = _member_ref(sdoc, stock_struct, m["name"])
    in_stock = sref is not None
    problems = []

    # required: both clients must be able to omit what either may omit
    seed_req = m.get("Required") == "Yes"
    stock_req = in_stock and m["name"] in sshape.get("required", [])
    want_req = seed_req if new_structure else (seed_req and stock_req)
    if (where, m["name"]) in KEPT_REQUIRED:
        want_req = seed_req
    if (where, m["name"]) in RELAXED_REQUIRED:
        want_req = False
    is_req = m["name"] in shape.get("required", [])
    if is_req != want_req:
        problems.append(f"{label}: required={is_req}, expected {want_req}")

    target = doc["shapes"][ref["shape"]]
    starget = sdoc["shapes"].get(sref["shape"]) if in_stock else None
    kind = m["Type"]
    tname = re.sub(r"\\?\(p\. \d+\\?\)|\(#\)|[\[\]]", "", kind).split()

    def scalar(botocore_types):
        if target["type"] not in botocore_types:
            problems.append(f"{label}: type {target['type']}, seed says {kind}")

    def bounds(name, stgt, text, word, what):
        tgt = doc["shapes"][name]
        lo, hi = _numbers(text, word)
        want_lo = _expected_bound(lo, stgt, "min", in_stock, lower=True)
        want_hi = _expected_bound(hi, stgt, "max", in_stock, lower=False)
        if word == "length" or what == "list":
            want_lo, got_lo = _norm_min(want_lo), _norm_min(tgt.get("min"))
        else:
            got_lo = tgt.get("min")
        got_hi = tgt.get("max")
        lo_ok = got_lo == want_lo or (not in_stock and _wider_stock_shape(
            sdoc, name, "min", tgt.get("min"), want_lo, lower=True))
        hi_ok = got_hi == want_hi or (not in_stock and _wider_stock_shape(
            sdoc, name, "max", got_hi, want_hi, lower=False))
        if not (lo_ok and hi_ok):
            problems.append(f"{label}: {what} bounds ({got_lo}, {tgt.get('max')}), "
                            f"expected ({want_lo}, {want_hi})")

    def pattern(tgt, stgt, seed_pattern):
        got = tgt.get("pattern")
        if seed_pattern is None:
            if got is not None:
                problems.append(f"{label}: pattern {got!r}, the seed has none")
            return
        want = fix_seed_pattern(seed_pattern)
        stock_pattern = stgt.get("pattern") if (in_stock and stgt) else None
        if in_stock and stock_pattern is None:
            ok = got is None
        else:
            ok = same_pattern(got, want) or (stock_pattern and same_pattern(got, stock_pattern))
        # the seed prints the personalize-ARN pattern for some role ARNs (a copy error)
        if not ok and m["name"] == "roleArn":
            ok = same_pattern(got, fix_seed_pattern("arn::iam::"))
        if not ok:
            problems.append(f"{label}: pattern {got!r}, expected {want!r}")

    def enum(tgt, stgt):
        values = m.get("Valid Values")
        got = tgt.get("enum")
        if values is None:
            if got is not None:
                problems.append(f"{label}: enum {got}, the seed has none")
            return
        want = set(re.findall(r"`([^`]+)`", values)) or {v.strip() for v in values.split("|")}
        if in_stock and stgt is not None and "enum" not in stgt:
            if got is not None:
                problems.append(f"{label}: enum {got}, today's API has none")
            return
        want |= set(stgt.get("enum", [])) if (in_stock and stgt) else set()
        if set(got or []) != want:
            problems.append(f"{label}: enum {sorted(got or [])}, expected {sorted(want)}")

    def string_constraints(name, stgt, length_text, pattern_text):
        tgt = doc["shapes"][name]
        if tgt["type"] != "string":
            problems.append(f"{label}: {tgt['type']}, seed says string")
            return
        bounds(name, stgt, length_text, "length", "length")
        pattern(tgt, stgt, pattern_text)
        enum(tgt, stgt)

    if kind == "String":
        string_constraints(ref["shape"], starget, m.get("Length Constraints"), m.get("Pattern"))
    elif kind in ("Integer", "Long", "Double", "Float"):
        scalar({"Integer": ("integer", "long"), "Long": ("long", "integer"),
                "Double": ("double", "float"), "Float": ("float", "double")}[kind])
        bounds(ref["shape"], starget, m.get("Valid Range"), "value", "range")
    elif kind == "Boolean":
        scalar(("boolean",))
    elif kind == "Timestamp":
        scalar(("timestamp",))
    elif kind.startswith("Base64-encoded binary data"):
        if target["type"] != "blob" and not (target["type"] == "string"
                                              and ref.get("x-seed-type") == "blob"):
            problems.append(f"{label}: {target['type']} without x-seed-type blob, seed says blob")
    elif kind.endswith(" object") and len(tname) == 2:
        if target["type"] != "structure" or ref["shape"] != tname[0]:
            problems.append(f"{label}: shape {ref['shape']} ({target['type']}), seed says {tname[0]}")
    elif kind.startswith("Array of"):
        if target["type"] != "list":
            problems.append(f"{label}: {target['type']}, seed says a list")
            return problems
        bounds(ref["shape"], starget, m.get("Array Members"), "number", "list")
        item = target["member"]["shape"]
        sitem = sdoc["shapes"][starget["member"]["shape"]] if starget else None
        if kind == "Array of strings":
            string_constraints(item, sitem, m.get("Length Constraints"), m.get("Pattern"))
        elif target["member"]["shape"] != tname[2]:
            problems.append(f"{label}: list of {target['member']['shape']}, seed says {tname[2]}")
    elif kind in ("String to string map", "String to string to double map map"):
        if target["type"] != "map":
            problems.append(f"{label}: {target['type']}, seed says a map")
            return problems
        if in_stock and starget.get("max") is not None and target.get("max") is not None:
            problems.append(f"{label}: map size limit {target['max']}, the seed has none")
        elif not in_stock and target.get("max") is not None:
            problems.append(f"{label}: map size limit {target['max']}, the seed has none")
        key = target["key"]["shape"]
        skey = sdoc["shapes"][starget["key"]["shape"]] if starget else None
        keys = (m.get("Key Length Constraints") or "").split(" || ")
        string_constraints(key, skey, keys[0], m.get("Key Pattern"))
        value = target["value"]["shape"]
        svalue = sdoc["shapes"][starget["value"]["shape"]] if starget else None
        if kind == "String to string map":
            string_constraints(value, svalue, m.get("Value Length Constraints"), None)
        elif (doc["shapes"][value]["type"] != "map"
              or doc["shapes"][doc["shapes"][value]["value"]["shape"]]["type"] != "double"):
            problems.append(f"{label}: value is not a map of doubles")
    else:
        problems.append(f"{label}: seed type {kind!r} not understood by this test")
    return problems


# ------------------------------------------------------------ tests

def test_seed_reader_finds_every_action_and_type():
    ops = seed_operations()
    assert list(ops) == seed_actions()
    assert len(seed_data_types()) == 44
    # spot checks that the reader reads what the seed says
    create = {m["name"]: m for m in ops["CreateSolution"]["request"]}
    assert create["minProvisionedTPS"]["Required"] == "Yes"
    assert ops["GetRecommendations"]["errors"] == ["InvalidInputException",
                                                   "ResourceNotFoundException"]
    assert [m["name"] for m in seed_data_types()["SolutionConfig"]][-2:] == [
        "retrainingMode", "retrainSchedule"]


@pytest.mark.parametrize("operation", sorted(seed_operations()) if os.path.exists(SEED) else [])
def test_operation_matches_seed(operation):
    seed = seed_operations()[operation]
    service = SERVICE_OF.get(operation, "personalize")
    doc = merged(service)
    assert operation in doc["operations"], f"{operation} is not served"
    op = doc["operations"][operation]
    sop = stock(service)["operations"].get(operation)
    problems = []
    for side, key in (("request", "input"), ("response", "output")):
        if not seed[side]:
            continue
        if key not in op:
            problems.append(f"{operation}: no {key} shape")
            continue
        for m in seed[side]:
            problems += check_member(service, f"{operation}.{key}", op[key]["shape"],
                                     sop[key]["shape"] if sop and key in sop else None,
                                     m, new_structure=sop is None)
    errors = {e["shape"] for e in op.get("errors", [])}
    problems += [f"{operation}: error {e} missing" for e in seed["errors"] if e not in errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("type_name", sorted(seed_data_types()) if os.path.exists(SEED) else [])
def test_data_type_matches_seed(type_name):
    service = SERVICE_OF.get(type_name, "personalize")
    doc = merged(service)
    assert type_name in doc["shapes"], f"{type_name} is not in the merged model"
    in_stock = type_name in stock(service)["shapes"]
    problems = []
    for m in seed_data_types()[type_name]:
        problems += check_member(service, type_name, type_name, type_name if in_stock else None,
                                 m, new_structure=not in_stock)
    assert not problems, "\n".join(problems)


def test_pattern_comparison_ignores_escaping_only():
    stock_name = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*"
    assert same_pattern(stock_name, r"^[a-zA-Z0-9][a-zA-Z0-9\-\_]*")
    assert same_pattern(stock_name, r"^[a-zA-Z0-9][a-zA-Z0-9\_-]*")
    assert not same_pattern(stock_name, r"^[a-zA-Z0-9][a-zA-Z0-9_]*")
    assert not same_pattern(r"arn:([a-z\d-]+):personalize:.*:.*:.*",
                            r"arn:([a-z\d-]+):personalize:.*:.*:.+")
    assert fix_seed_pattern(r"`arn:([a-z\d-]):personalize:.*:.*:.*`") == \
        r"arn:([a-z\d-]+):personalize:.*:.*:.*"
