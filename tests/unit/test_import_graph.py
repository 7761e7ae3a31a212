"""The drawing of imports (ARCHITECTURE.md): layers point one way, and the service
families form no circle. Imports are read from the source (module level and inside
functions alike), so a lazy import cannot hide a cycle."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"


def _module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path):
    """Names of the chalicelib modules `path` imports (`from x import y` counts y when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level + (path.name == "__init__.py")])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("chalicelib")}


def graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def _cycle(edges, nodes):
    """One import cycle among `nodes`, or None (depth-first search)."""
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if m not in nodes:
                continue
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_service_families_import_no_circle():
    edges = graph()
    service = {n for n in edges if n.startswith("chalicelib.service.")}
    assert len(service) > 10
    assert _cycle(edges, service) is None, " -> ".join(_cycle(edges, service))


def test_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(edges, set(edges)) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}, {"a", "b"}) is None


def _layer(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_lower_layers_do_not_import_upper_ones():
    """domain and algorithms are plain (no storage, service, protocol; algorithms read the recipe
    definitions in domain); storage never asks the
    service layer; nothing under chalicelib imports the tests."""
    edges = graph()
    forbidden = {
        "domain": {"service", "storage", "protocol", "workflows", "runtime", "training"},
        "algorithms": {"service", "storage", "protocol", "workflows", "runtime", "training"},
        "storage": {"service", "workflows", "runtime"},
        # the filter language and evaluator: plain data in, masks out (the runtime feeds them)
        "filters": {"service", "storage", "protocol", "workflows", "runtime", "training",
                    "datasets", "algorithms"},
    }
    wrong = [(n, m) for n, targets in edges.items() for m in targets
             if _layer(m) in forbidden.get(_layer(n), ())]
    assert wrong == []


def _all_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_algorithms_and_the_filter_language_free_of_boto3():
    for folder in ("algorithms", "filters"):
        for path in (PACKAGE / folder).rglob("*.py"):
            assert not {"boto3", "botocore"} & _all_imports(path), path


def test_package_holds_no_test_machinery():
    """Test-only code paths (an in-process Step Functions, test switches) live under tests/."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("WORKFLOW_MODE", "LOCAL_LAMBDA_ERROR_STYLE", "LOCAL_WORKFLOW", "local_asl",
                     "LOCAL_RULES", "import tests", "from tests"):
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word}"
