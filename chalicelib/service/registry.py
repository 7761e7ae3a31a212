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
several services only if the registration says so.
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


def handler_for(service, name):
    """Return the registered function or None."""
    load_all()
    return _HANDLERS.get((service, name))


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
