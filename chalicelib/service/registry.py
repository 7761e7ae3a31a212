"""Operation registry: operation name -> business function.

Each resource-family module under `chalicelib.service` registers its
operations with `@operation("CreateDatasetGroup")`. A handler receives the
request parameters *already parsed and validated against the service model*
(a plain dict, timestamps as `datetime`) and returns a dict shaped like the
operation's output; the protocol layer serializes it, dropping members that
are not in the output shape. Handlers raise `chalicelib.protocol.errors`
exceptions for business-rule violations.

`service` is the botocore service name ("personalize",
"personalize-runtime", "personalize-events"); one name may be served by
several services only if the registration says so. `around` hooks wrap the
handlers of several operations at once (cross-cutting rules, e.g. tags).
"""
from chalicelib.plugins import import_package_modules

_HANDLERS = {}


def operation(name, service="personalize"):
    def register(fn):
        key = (service, name)
        if key in _HANDLERS:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        _HANDLERS[key] = fn
        return fn
    return register


_AROUND = []     # (service, applies(operation name) -> bool, wrap(name, handler) -> handler)
_WRAPPED = {}


def around(service, applies):
    """Register `wrap(name, handler)`, which returns the handler to call instead, for every
    operation of `service` for which `applies(name)` is true: a rule that concerns many
    operations (tags on every Create*, `service.tags`) lives in its family's module, not in
    each handler."""
    def register(wrap):
        _AROUND.append((service, applies, wrap))
        _WRAPPED.clear()
        return wrap
    return register


def handler_for(service, name):
    """Return the registered function (wrapped by the `around` hooks that apply) or None."""
    load_all()
    key = (service, name)
    raw = _HANDLERS.get(key)
    cached = _WRAPPED.get(key)
    if cached is None or cached[0] is not raw:   # (re)wrap when the registration changed
        fn = raw
        for hook_service, applies, wrap in _AROUND:
            if fn is not None and hook_service == service and applies(name):
                fn = wrap(name, fn)
        cached = _WRAPPED[key] = (raw, fn)
    return cached[1]


def served_operations():
    load_all()
    return sorted(_HANDLERS)


_loaded = False


def load_all():
    """Import every service module so that its registrations run."""
    global _loaded
    if not _loaded:
        import_package_modules("chalicelib.service", skip=("registry",))
        _loaded = True
