"""Paths, payload templates and intrinsic functions of the Amazon States Language
(JSONPath flavour), for the in-process runner in `runner`.

Covers what Step Functions accepts in JSONPath state machines: `$` and `$$`
(context object) paths with `.name`, `['name']`, `[n]`, `[*]`, `.*`, `[a:b]`,
`[i,j]` and `..name`; reference paths (InputPath/ResultPath/OutputPath, one
node, no wildcards); payload templates (`Parameters`, `ItemSelector`,
`ResultSelector`) whose `"key.$"` fields take a path or an intrinsic function;
and the intrinsic functions `States.Format`, `States.StringToJson`,
`States.JsonToString`, `States.Array`, `States.UUID` and their common
siblings. Standard library only.
"""
import base64
import copy
import hashlib
import json
import random
import uuid


class PathError(Exception):
    """A path that does not resolve; the runner turns it into `States.Runtime`."""


class IntrinsicError(Exception):
    """A bad intrinsic function call (`States.IntrinsicFailure` on AWS)."""


# --- JSONPath -------------------------------------------------------------

_WILD = object()  # the `*` selector


def _parse(path):
    """`$.a[0]['b']` -> [("key", "a"), ("index", 0), ("key", "b")]. The leading
    `$` (or `$$`) must already be stripped by the caller."""
    steps, i, n = [], 0, len(path)
    while i < n:
        c = path[i]
        if path.startswith("..", i):
            i += 2
            name, i = _read_name(path, i)
            steps.append(("deep", _WILD if name == "*" else name))
        elif c == ".":
            name, i = _read_name(path, i + 1)
            steps.append(("key", _WILD if name == "*" else name))
        elif c == "[":
            close = _find_bracket_end(path, i)
            steps.append(_parse_bracket(path[i + 1:close].strip(), path))
            i = close + 1
        else:
            raise PathError(f"invalid JSONPath {'$' + path!r} at {path[i:]!r}")
    return steps


def _read_name(path, i):
    j = i
    while j < len(path) and path[j] not in ".[":
        j += 1
    if j == i:
        raise PathError(f"invalid JSONPath: empty name in {path!r}")
    return path[i:j], j


def _find_bracket_end(path, i):
    quote = None
    for j in range(i + 1, len(path)):
        c = path[j]
        if quote:
            if c == "\\":
                continue
            if c == quote and path[j - 1] != "\\":
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "]":
            return j
    raise PathError(f"unclosed [ in JSONPath {path!r}")


def _parse_bracket(body, path):
    if body == "*":
        return ("key", _WILD)
    if body.startswith("?"):
        raise PathError(f"JSONPath filters are not supported by the local runner: {path!r}")
    if body[:1] in "'\"":
        names = [_unquote(part.strip()) for part in _split_top(body)]
        return ("key", names[0]) if len(names) == 1 else ("keys", names)
    if ":" in body:
        parts = [p.strip() for p in body.split(":")]
        vals = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
        return ("slice", slice(*vals[:3]))
    try:
        idx = [int(p) for p in body.split(",")]
    except ValueError:
        raise PathError(f"invalid JSONPath subscript [{body}] in {path!r}") from None
    return ("index", idx[0]) if len(idx) == 1 else ("indices", idx)


def _split_top(body):
    parts, cur, quote = [], "", None
    for c in body:
        if quote:
            cur += c
            if c == quote and not cur.endswith("\\" + quote):
                quote = None
        elif c in "'\"":
            quote = c
            cur += c
        elif c == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def _unquote(token):
    if len(token) < 2 or token[0] != token[-1] or token[0] not in "'\"":
        raise PathError(f"invalid quoted name {token!r}")
    return token[1:-1].replace("\\" + token[0], token[0])


def _select(node, step):
    kind, arg = step
    if kind == "key":
        if arg is _WILD:
            if isinstance(node, dict):
                return list(node.values())
            return list(node) if isinstance(node, list) else []
        return [node[arg]] if isinstance(node, dict) and arg in node else []
    if kind == "keys":
        return [node[k] for k in arg if isinstance(node, dict) and k in node]
    if kind == "index":
        if isinstance(node, list) and -len(node) <= arg < len(node):
            return [node[arg]]
        return []
    if kind == "indices":
        return [node[k] for k in arg if isinstance(node, list) and -len(node) <= k < len(node)]
    if kind == "slice":
        return list(node[arg]) if isinstance(node, list) else []
    if kind == "deep":
        found = []
        _deep(node, arg, found)
        return found
    raise AssertionError(kind)


def _deep(node, name, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if name is _WILD or k == name:
                found.append(v)
            _deep(v, name, found)
    elif isinstance(node, list):
        for v in node:
            if name is _WILD:
                found.append(v)
            _deep(v, name, found)


def _split_root(path):
    if not isinstance(path, str) or not path.startswith("$"):
        raise PathError(f"a path must start with '$': {path!r}")
    if path.startswith("$$"):
        return "context", path[2:]
    return "input", path[1:]


def evaluate(path, data, context=None):
    """Value of a JSONPath against `data` (or, for `$$...`, the context object).

    A definite path (no wildcard, slice, list or deep scan) yields the one
    node; an indefinite one yields the list of matches, as Step Functions does.
    Raises PathError when a definite path matches nothing.
    """
    root, rest = _split_root(path)
    node = context if root == "context" else data
    steps = _parse(rest)
    current, definite = [node], True
    for step in steps:
        if step[0] not in ("key", "index") or step[1] is _WILD:
            definite = False
        current = [m for n in current for m in _select(n, step)]
    if definite:
        if not current:
            raise PathError(f"the JSONPath {path!r} could not be found in the input")
        return current[0]
    return current


def is_present(path, data, context=None):
    try:
        evaluate(path, data, context)
    except PathError:
        return False
    return True


def _reference_steps(path):
    root, rest = _split_root(path)
    if root != "input":
        raise PathError(f"a reference path cannot use the context object: {path!r}")
    steps = _parse(rest)
    for kind, arg in steps:
        if kind not in ("key", "index") or arg is _WILD:
            raise PathError(f"a reference path must name a single node: {path!r}")
    return steps


def select_reference(path, data):
    """InputPath / OutputPath: `None` gives `{}`, otherwise one node."""
    if path is None:
        return {}
    _reference_steps(path)
    return evaluate(path, data)


def set_reference(path, data, value):
    """ResultPath: `None` keeps `data`, `$` replaces it, otherwise writes
    `value` at the path in a copy of `data`, creating objects on the way.
    Raises PathError where the path crosses a non-object (AWS:
    States.ResultPathMatchFailure)."""
    if path is None:
        return data
    steps = _reference_steps(path)
    if not steps:
        return value
    out = copy.deepcopy(data)
    if not isinstance(out, dict):
        raise PathError(f"cannot apply ResultPath {path!r} to a non-object input")
    node = out
    for i, (kind, arg) in enumerate(steps):
        last = i == len(steps) - 1
        if kind == "index":
            if not isinstance(node, list) or not -len(node) <= arg < len(node):
                raise PathError(f"cannot apply ResultPath {path!r}: no array element {arg}")
            if last:
                node[arg] = value
            else:
                node = node[arg]
            continue
        if not isinstance(node, dict):
            raise PathError(f"cannot apply ResultPath {path!r}: {arg!r} is under a non-object")
        if last:
            node[arg] = value
        else:
            if arg not in node:  # missing objects on the way are created
                node[arg] = {}
            node = node[arg]
    return out


# --- payload templates ----------------------------------------------------

def is_intrinsic(text):
    return isinstance(text, str) and text.startswith("States.")


def resolve_dynamic(expr, data, context):
    """Value of a `"key.$"` field: a path, a context path or an intrinsic."""
    if is_intrinsic(expr):
        return call_intrinsic(expr, data, context)
    return evaluate(expr, data, context)


def apply_template(template, data, context):
    """Evaluate a payload template: `"name.$"` fields take the value of their
    path or intrinsic function (and lose the `.$`); other fields are copied,
    nested objects and arrays processed the same way."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                try:
                    out[key[:-2]] = resolve_dynamic(value, data, context)
                except PathError:
                    raise PathError(f"The JSONPath '{value}' specified for the field '{key}' could not "
                                    f"be found in the input '{_compact(data)}'") from None
            else:
                out[key] = apply_template(value, data, context)
        return out
    if isinstance(template, list):
        return [apply_template(v, data, context) for v in template]
    return template


# --- intrinsic functions --------------------------------------------------

def call_intrinsic(expr, data, context):
    parser = _IntrinsicParser(expr)
    tree = parser.call()
    parser.expect_end()
    return _eval_call(tree, data, context)


class _IntrinsicParser:
    def __init__(self, text):
        self.text, self.i = text, 0

    def _ws(self):
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def expect_end(self):
        self._ws()
        if self.i != len(self.text):
            raise IntrinsicError(f"unexpected text after the call: {self.text[self.i:]!r}")

    def call(self):
        self._ws()
        start = self.i
        while self.i < len(self.text) and (self.text[self.i].isalnum() or self.text[self.i] == "."):
            self.i += 1
        name = self.text[start:self.i]
        self._ws()
        if not name.startswith("States.") or self.text[self.i:self.i + 1] != "(":
            raise IntrinsicError(f"not an intrinsic function call: {self.text!r}")
        self.i += 1
        args = []
        self._ws()
        if self.text[self.i:self.i + 1] == ")":
            self.i += 1
            return ("call", name, args)
        while True:
            args.append(self.arg())
            self._ws()
            c = self.text[self.i:self.i + 1]
            self.i += 1
            if c == ")":
                return ("call", name, args)
            if c != ",":
                raise IntrinsicError(f"expected ',' or ')' in {self.text!r}")

    def arg(self):
        self._ws()
        c = self.text[self.i:self.i + 1]
        if c == "'":
            value, escaped = self._string()
            return ("lit", value, escaped)
        if c == "$":
            return ("path", self._path())
        if self.text.startswith("States.", self.i):
            return self.call()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in ",)" and not self.text[self.i].isspace():
            self.i += 1
        token = self.text[start:self.i]
        if token in ("null", "true", "false"):
            return ("lit", {"null": None, "true": True, "false": False}[token])
        try:
            return ("lit", json.loads(token))
        except ValueError:
            raise IntrinsicError(f"bad argument {token!r} in {self.text!r}") from None

    def _string(self):
        """(value, value with `\\{`, `\\}` and `\\\\` still escaped for States.Format)."""
        self.i += 1
        out, escaped = [], []
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "\\" and self.i + 1 < len(self.text):
                nxt = self.text[self.i + 1]
                out.append(nxt)
                escaped.append(c + nxt if nxt in "{}\\" else nxt)
                self.i += 2
                continue
            if c == "'":
                self.i += 1
                return "".join(out), "".join(escaped)
            out.append(c)
            escaped.append(c)
            self.i += 1
        raise IntrinsicError(f"unterminated string in {self.text!r}")

    def _path(self):
        start, depth, quote = self.i, 0, None
        while self.i < len(self.text):
            c = self.text[self.i]
            if quote:
                if c == quote:
                    quote = None
            elif c in "'\"" and depth:
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and (c in ",)" or c.isspace()):
                break
            self.i += 1
        return self.text[start:self.i]


def _eval_call(node, data, context):
    _, name, raw_args = node
    args = []
    for position, arg in enumerate(raw_args):
        if arg[0] == "lit":
            # a Format template keeps its escapes so that \\{\\} stays a literal {}
            escaped = name == "States.Format" and position == 0 and len(arg) == 3
            args.append(arg[2] if escaped else arg[1])
        elif arg[0] == "path":
            args.append(evaluate(arg[1], data, context))
        else:
            args.append(_eval_call(arg, data, context))
    fn = _INTRINSICS.get(name)
    if fn is None:
        raise IntrinsicError(f"unknown intrinsic function {name}")
    try:
        return fn(*args)
    except IntrinsicError:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as e:
        raise IntrinsicError(f"{name}: {e}") from None


def _format(template, *values):
    if not isinstance(template, str):
        raise IntrinsicError("States.Format: the first argument must be a string")
    pieces, i, used = [], 0, 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template):
            pieces.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            if used >= len(values):
                raise IntrinsicError("States.Format: more {} than arguments")
            v = values[used]
            if isinstance(v, (dict, list)):
                raise IntrinsicError("States.Format: arguments must be strings, numbers, booleans or null")
            pieces.append(v if isinstance(v, str) else json.dumps(v))
            used += 1
            i += 2
            continue
        pieces.append(c)
        i += 1
    if used != len(values):
        raise IntrinsicError("States.Format: more arguments than {}")
    return "".join(pieces)


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _partition(array, size):
    if size <= 0:
        raise IntrinsicError("States.ArrayPartition: the chunk size must be positive")
    return [array[i:i + size] for i in range(0, len(array), size)]


def _range(start, end, step):
    if step == 0:
        raise IntrinsicError("States.ArrayRange: the step must not be 0")
    out, v = [], start
    while (step > 0 and v <= end) or (step < 0 and v >= end):
        out.append(v)
        v += step
    return out


def _unique(array):
    out = []
    for v in array:
        if v not in out:
            out.append(v)
    return out


def _merge(a, b, deep=False):
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise IntrinsicError("States.JsonMerge: both arguments must be objects")
    if deep:
        raise IntrinsicError("States.JsonMerge: deep merge is not supported by Step Functions")
    return {**a, **b}


def _hash(value, algorithm):
    algos = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
    if algorithm not in algos:
        raise IntrinsicError(f"States.Hash: unsupported algorithm {algorithm!r}")
    return hashlib.new(algos[algorithm], str(value).encode()).hexdigest()


_INTRINSICS = {
    "States.Format": _format,
    "States.StringToJson": lambda s: json.loads(s),
    "States.JsonToString": _compact,
    "States.Array": lambda *vals: list(vals),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": lambda array, value: value in array,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": lambda array, index: array[index],
    "States.ArrayLength": lambda array: len(array),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda s: base64.b64encode(s.encode()).decode(),
    "States.Base64Decode": lambda s: base64.b64decode(s).decode(),
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": lambda start, end, *seed: random.Random(*seed).randint(start, end - 1),
    "States.MathAdd": lambda a, b: a + b,
    "States.StringSplit": lambda s, sep: [p for p in _split_chars(s, sep) if p],
    "States.UUID": lambda: str(uuid.uuid4()),
}


def _split_chars(text, separators):
    """States.StringSplit splits on any of the separator characters."""
    parts, cur = [], ""
    for c in text:
        if c in separators:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts
