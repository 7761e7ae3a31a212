"""Task registry for the state machines.

Every Task state of every workflow invokes the one `tasks` Lambda with
`{"task": "<name>", "input.$": "$"}` (see `infrastructure/statemachines/`).
Modules under `chalicelib.workflows` register their steps with
`@task("import.parse")`; `run_task` is what the Lambda (and the in-process
state-machine runner used by fast tests) calls.
"""
from chalicelib.plugins import import_package_modules

_TASKS = {}


def task(name):
    def register(fn):
        if name in _TASKS:
            raise RuntimeError(f"task {name} registered twice")
        _TASKS[name] = fn
        return fn
    return register


def registered_tasks():
    """Names of every registered task (the state-machine lint checks Task states against them)."""
    load_all()
    return sorted(_TASKS)


def run_task(event):
    """Run the task named by `event["task"]` on `event.get("input", {})`."""
    load_all()
    name = event.get("task")
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}")
    return _TASKS[name](event.get("input") or {})


_loaded = False


def load_all():
    """Import every workflow module so that its tasks register."""
    global _loaded
    if not _loaded:
        import_package_modules("chalicelib.workflows", skip=("tasks",))
        _loaded = True
