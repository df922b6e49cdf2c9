"""Fuzz the hub's HTTP API from its own OpenAPI spec (schemathesis): every operation, with
inputs that fit the schema and inputs that break it, under every role and none.

Only clear answers are allowed: never a 5xx, always a JSON body, `{"detail": ...}` on every
error, 401 without a valid token, and 200/201 only for a role the route admits. After the run
the database still holds its invariants (every ledger sum equals its credit state). Both
backends: PostgreSQL refuses what SQLite stores (a NUL character was a 500 there).
Ints are bounded (a 2**63 once gave an OverflowError -> 500), and so are strings (PostgreSQL
refuses a name longer than its column).

Examples per operation and mode: --fuzz-examples / 500, at least 10 (10 in `make test`, 200 in
`make fuzz`; a third of that, at least 4, for positive inputs on PostgreSQL and negative ones on
SQLite: the other backend takes those in full).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode


from hubkit import Hub, fresh_pg_database, make_config
from server_hub.api import create_app
from server_hub.api.app import HubContext

ROLES = ["admin", "admin", "operator", "technician", None, "bogus"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("apifuzz")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'hub.db'}"
        hub = Hub(url, make_config(hub__db=url))
    else:
        url = fresh_pg_database(request.getfixturevalue("postgres"))
        hub = Hub(url, make_config(hub__db=url, hub__ca_dir=str(root / "ca")))
    hub.backend = request.param
    app = create_app(HubContext(hub.store, hub.registry, hub.pipeline, hub.config))
    tokens = {role: hub.registry.create_operator(f"fuzz-{role}", role)[1]
              for role in ("admin", "operator", "technician")}
    tokens["bogus"] = "tok_" + "x" * 40
    # something to find: a station, a learner with a card, an activity
    hub.registry.add_station("S-1", name="fuzz station")
    hub.registry.add_learner("L-1", name="fuzz learner")
    hub.registry.add_card("04a0b0c0", "L-1")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield hub, schema, tokens
    hub.close()


def _operations(schema):
    return [r.ok() for r in schema.get_all_operations()]


def _check(case, who, resp):
    what = f"{case.method} {case.formatted_path} as {who}: {resp.status_code} {resp.text[:300]}"
    assert resp.status_code < 500, what
    if "json" in resp.headers.get("content-type", ""):
        body = json.loads(resp.text) if resp.text else None
        if resp.status_code >= 400:
            assert isinstance(body, dict) and isinstance(body.get("detail"), (str, list)), what
    if case.path.startswith("/api/v1") and who in (None, "bogus"):
        # refused: no token (401), or a request that does not parse (400, 422) before the token
        # is looked at -- never an answer that tells what exists (2xx, 403, 404, 409)
        assert resp.status_code in (400, 401, 422), what


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
def test_fuzz_every_api_operation_answers_clearly(api, mode, fuzz_examples):
    hub, schema, tokens = api
    examples = max(10, fuzz_examples // 500)
    # each backend gets the full count in the mode where it differs: inputs that fit the
    # schema reach the database (SQLite in full), and PostgreSQL refuses more of what breaks
    # it (NULs, ranges: PostgreSQL in full); the other pair gets a third (the same validation
    # in front of either database), at least 4 per operation
    if (hub.backend, mode) in (("postgresql", GenerationMode.POSITIVE),
                               ("sqlite", GenerationMode.NEGATIVE)):
        examples = max(4, examples // 3)
    ops = _operations(schema)
    assert len(ops) >= 30
    calls = [0]
    for op in ops:
        try:
            strategy = op.as_strategy(generation_mode=mode)
        except Exception as exc:  # an operation with nothing negative to generate
            if mode is GenerationMode.NEGATIVE:
                continue
            raise AssertionError(f"{op.method} {op.path}: {exc}") from exc

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy, who=st.sampled_from(ROLES))
        def run(case, who):
            headers = dict(case.headers or {})
            headers.pop("Authorization", None)
            if who is not None:
                headers["Authorization"] = f"Bearer {tokens[who]}"
            case.headers = headers
            resp = case.call()
            calls[0] += 1
            _check(case, who, resp)

        try:
            run()
        except Unsatisfiable:
            if mode is not GenerationMode.NEGATIVE:
                raise  # nothing can be made invalid in an operation without inputs
    assert calls[0] >= len(ops) * 2  # every operation was called (hypothesis may stop early)
    with hub.store.read() as conn:
        import sqlalchemy as sa
        bad = conn.execute(sa.text(
            "SELECT s.learner_id, s.activity_id, s.session_start FROM credit_state s LEFT JOIN "
            "(SELECT learner_id, activity_id, session_start, SUM(amount_milli) AS m FROM ledger "
            "GROUP BY 1, 2, 3) l USING (learner_id, activity_id, session_start) "
            "WHERE COALESCE(l.m, 0) != s.applied_milli")).fetchall()
    assert not bad
