"""A wheelhouse for wheelcheck's clean venv: what tapcert[EXTRAS] needs, taken from this venv.

The dependencies pinned by constraints.txt are already installed here; repacked as wheels
they install offline in seconds, so the wheel step checks OUR wheel without re-downloading
the world (`wheelcheck.py --from-index` installs them from the package index instead).
"""

from __future__ import annotations

import importlib.metadata
import re
import sysconfig
import zipfile
from pathlib import Path

EXTRAS = "hub,agent,provision"


def wheelhouse(folder: Path) -> Path:
    """What tapcert[EXTRAS] needs from this venv, repacked as wheels (the versions
    constraints.txt pins), so the clean venv installs offline in seconds; `--from-index` asks
    the package index instead. Only the wheel just built is tapcert: ours never comes from here."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    folder.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"]).resolve()   # files resolve below too
    dists = {canonicalize_name(d.metadata["Name"]): d
             for d in importlib.metadata.distributions(path=[str(site)])}
    wanted, todo = set(), [(canonicalize_name("tapcert"), set(EXTRAS.split(",")))]
    while todo:
        name, extras = todo.pop()
        for line in dists[name].requires or ():
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            dep = canonicalize_name(req.name)
            if dep != "tapcert" and (dep, frozenset(req.extras)) not in wanted:
                wanted.add((dep, frozenset(req.extras)))
                todo.append((dep, set(req.extras)))
    for name in sorted({dep for dep, _ in wanted}):
        _repack(dists[name], site, folder)
    return folder


def _repack(dist, site: Path, folder: Path) -> None:
    info = Path(dist._path)                  # the .dist-info folder (a PathDistribution)
    tags = [line.split(":", 1)[1].strip().split("-") for line in
            (info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(sorted({t[i] for t in tags})) for i in range(3))
    out = folder / "{}-{}-{}.whl".format(re.sub(r"[-_.]+", "_", dist.metadata["Name"]),
                                          dist.version, tag or "py3-none-any")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for rel in dist.files or ():
            path = (site / rel).resolve()
            if (site not in path.parents or "__pycache__" in rel.parts or not path.is_file()
                    or rel.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")):
                continue       # console scripts live outside site-packages: pip makes them anew
            zf.write(path, rel.as_posix())
        zf.writestr(info.name + "/RECORD", "")
