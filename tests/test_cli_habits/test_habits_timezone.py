"""One time zone everywhere: the dashboard and bank pages show times in the hub's zone
(hub.timezone, as the CLI does) and say which, never in the browser's."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hil_tests.timescale import scaled

STATIC = Path(__file__).resolve().parents[2] / "server_hub" / "dashboard" / "static"


def node(script):
    if shutil.which("node") is None:
        pytest.skip("node is not installed (apt-get install nodejs)")
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True,
                          timeout=scaled(30))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_hubtime_formats_in_the_hub_zone_whatever_the_browser_zone():
    script = """
      process.env.TZ = "America/Los_Angeles";   // the browser's zone must not matter
      const H = require(%s);
      const before = [H.label(), H.full(1699977600)];
      H.setZone("Asia/Shanghai");
      console.log(JSON.stringify({before: before, label: H.label(),
        midnight: H.full(1699977600), day: H.day(1699977600 - 1), hms: H.hms(1700000000)}));
    """ % json.dumps(str(STATIC / "hubtime.js"))
    out = node(script)
    assert out["before"] == ["UTC", "2023-11-14 16:00"]     # until the hub says: UTC, named
    assert out == dict(out, label="Asia/Shanghai", midnight="2023-11-15 00:00", day="2023-11-14",
                       hms="06:13:20")


def test_no_page_script_formats_times_in_the_browser_zone():
    local = re.compile(r"\.(getHours|getMinutes|getDate|getMonth|getFullYear|toLocaleTimeString|"
                       r"toLocaleDateString|toDateString|toISOString)\(")
    offenders = [f"{p.name}:{n}" for p in sorted(STATIC.glob("*.js")) if p.name != "hubtime.js"
                 for n, line in enumerate(p.read_text("utf-8").splitlines(), 1) if local.search(line)]
    assert offenders == []
    for page in ("index.html", "bank.html"):   # loaded before the scripts that use it
        html = (STATIC / page).read_text("utf-8")
        assert html.index("hubtime.js") < html.index("i18n.js")


def test_the_api_gives_the_pages_the_hub_zone(tmp_path):
    from fastapi.testclient import TestClient

    from server_hub import config as hubconfig
    from server_hub.api.app import HubContext, create_app
    from server_hub.ingest.pipeline import Pipeline
    from server_hub.registry.registry import Registry
    from server_hub.store.db import open_store

    cfg = hubconfig.load(env={})
    cfg.hub.timezone = "Asia/Shanghai"
    cfg.dashboard.monitor = False
    store = open_store("sqlite:///{}".format(tmp_path / "hub.db"), migrate=True)
    try:
        pipeline = Pipeline(store, cfg)
        registry = Registry(store, pipeline)
        _, token = registry.create_operator("admin", "admin")
        app = create_app(HubContext(store, registry, pipeline, cfg, None))
        with TestClient(app) as client:
            auth = {"Authorization": "Bearer " + token}
            assert client.get("/dashboard/api/zone", headers=auth).json() == {
                "timezone": "Asia/Shanghai"}
            assert client.get("/dashboard/api/fleet", headers=auth).json()["timezone"] == \
                "Asia/Shanghai"
            assert client.get("/dashboard/api/zone").status_code == 401
    finally:
        store.close()
