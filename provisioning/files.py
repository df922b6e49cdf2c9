"""All-or-nothing writes of a set of local files (identity, config, bundles).

`write_all({path: (data, mode)})` puts every file in a temp file beside its target (mode set
before a byte lands, fsynced), and only when all are written renames them into place. A failure
before the renames leaves nothing behind; the renames themselves are atomic per file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from provisioning.errors import ProvisionError


def write_all(files: dict) -> list[Path]:
    staged = []
    try:
        for path, (data, mode) in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
            staged.append((tmp, path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise ProvisionError("cannot write {} ({})".format(exc.filename or "a file", exc.strerror),
                             "check the directory exists and is writable, then retry") from exc
    return [path for _, path in staged]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_toml(data: dict, header: str = "") -> str:
    """A flat TOML writer: top-level keys, then one table per dict value (no nesting deeper)."""
    lines = [header.rstrip()] if header else []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append("{} = {}".format(key, toml_value(value)))
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", "[{}]".format(key)]
            lines += ["{} = {}".format(k, toml_value(v)) for k, v in value.items()]
    return "\n".join(lines) + "\n"
