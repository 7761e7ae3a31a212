"""Import every module of a package once, so that its registrations run.

The operation registry (`chalicelib.service`) and the task registry
(`chalicelib.workflows`) are filled by decorators in their packages' modules.
"""
import importlib
import pkgutil


def import_package_modules(package_name, skip=()):
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in skip:
            importlib.import_module(f"{package_name}.{info.name}")
