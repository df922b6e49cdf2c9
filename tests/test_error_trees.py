"""Each program's errors form one tree drawn in its errors.py docstring, one meaning per name
(issue #17): every exception class the hub or the provisioning tool defines derives from its
program's base and is drawn in that docstring (or is listed there as a signal that never
reaches a person); the two trees share no base name."""

import importlib
import pkgutil

import pytest

import provisioning
import server_hub
from provisioning.errors import ProvisionError
from server_hub.errors import HubError


def _exceptions(package):
    found = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Exception) \
                    and value.__module__ == info.name:
                found.setdefault(value.__name__, []).append(value)
    return found


@pytest.mark.parametrize("package,base", [(server_hub, HubError),
                                          (provisioning, ProvisionError)])
def test_every_error_in_its_tree_and_drawn(package, base):
    drawing = importlib.import_module(package.__name__ + ".errors").__doc__
    found = _exceptions(package)
    for name, classes in found.items():
        if name.startswith("_") or f"\n    {name} " in drawing:
            continue        # a private class or a signal listed under "Signals, not errors"
        for cls in classes:
            assert issubclass(cls, base), f"{cls.__module__}.{name} is outside the {base.__name__} tree"
        assert len(classes) == 1, f"{name} is defined twice: {[c.__module__ for c in classes]}"
        assert f"+-- {name} " in drawing, f"{name} is not drawn in {package.__name__}/errors.py"


def test_no_base_name_shared():
    hub, prov = _exceptions(server_hub), _exceptions(provisioning)
    assert "HubError" not in prov and "ProvisionError" not in hub
