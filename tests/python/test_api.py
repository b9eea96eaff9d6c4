"""The public API as help() shows it: every public function, class and method of the package's
modules has a docstring (mypy, ctest python.mypy, checks that each is annotated)."""

import importlib
import inspect
import pkgutil

import sigprop


def public_callables():
    for module_info in pkgutil.iter_modules(sigprop.__path__[:1]):
        module = importlib.import_module(f"sigprop.{module_info.name}")
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value) or inspect.isclass(value):
                yield f"{module.__name__}.{name}", value
            if inspect.isclass(value):
                for member_name, member in vars(value).items():
                    member = member.fget if isinstance(member, property) else member
                    if not member_name.startswith("_") and callable(member):
                        yield f"{module.__name__}.{name}.{member_name}", member


def test_every_public_function_has_a_docstring():
    found = dict(public_callables())
    assert {"sigprop.spec.sweep", "sigprop.presets.shaped_transformer", "sigprop.plot.live",
            "sigprop.frame.to_xarray", "sigprop.progress.ProgressBar.update",
            "sigprop.client.Sweep.results"} <= set(found)
    assert [name for name, value in found.items() if not inspect.getdoc(value)] == []
