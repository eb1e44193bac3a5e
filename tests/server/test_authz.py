"""The authorization matrix over real HTTP, with API tokens configured: anonymous -> 401 on every data read
and write; reviewer B -> 403 on A's annotation; reviewer -> 403 adjudicating, publishing, managing tokens,
importing others' annotations; adjudicator adjudicates; admin does everything."""
from __future__ import annotations

import pytest
import requests

from .harness import Server, cli

MC = "sample-mediconfusion"
TAG = "Perceptual error/Detail missed"


@pytest.fixture(scope="module")
def tokens_server(sample_store_file, tmp_path_factory):
    from medviz import auth
    from medviz.store import Store

    from .harness import copy_store
    db = copy_store(sample_store_file, str(tmp_path_factory.mktemp("authz") / "authz.duckdb"))
    with Store(db) as s:
        owner = auth.file_owner()
        toks = {who: auth.create_token(s, name, role, by=owner) for who, name, role in (
            ("alice", "alice@example.org", "reviewer"), ("bob", "bob@example.org", "reviewer"),
            ("judge", "judge@example.org", "adjudicator"), ("admin", "admin@example.org", "admin"))}
    with Server(db) as srv:
        srv.tokens = toks
        yield srv


def call(srv, method, path, who=None, **kw):
    headers = kw.pop("headers", {})
    if who:
        headers["Authorization"] = f"Bearer {srv.tokens[who]}"
    return requests.request(method, srv.api + path, headers=headers, timeout=30, **kw)


def _unit(srv) -> str:
    return call(srv, "GET", f"/benchmarks/{MC}/errors", "alice", params={"outcome": "all"}).json()["rows"][0]["unit_id"]


DATA_ROUTES = [
    ("GET", "/benchmarks", {}), ("GET", f"/benchmarks/{MC}/models", {}), ("GET", f"/benchmarks/{MC}/scores", {}),
    ("GET", f"/benchmarks/{MC}/errors", {}), ("GET", f"/benchmarks/{MC}/units/x", {}),
    ("GET", f"/benchmarks/{MC}/annotations", {}), ("GET", f"/benchmarks/{MC}/annotations.csv", {}),
    ("GET", "/jobs", {}), ("GET", "/jobs/x", {}), ("GET", "/embeddings/pixels/missing", {}),
    ("POST", f"/benchmarks/{MC}/annotations", {"json": {"target_type": "pair", "target_id": "x", "tags": [TAG]}}),
    ("POST", "/annotations/x/revisions", {"json": {"revision": 1}}), ("POST", "/annotations/x/retract", {}),
    ("POST", f"/benchmarks/{MC}/predictions", {"files": {"file": ("p.csv", b"item_id,prediction\n")}}),
    ("POST", "/benchmarks", {"data": {"path": "/etc/hostname"}}),
    ("POST", f"/benchmarks/{MC}/embeddings", {"json": {}}), ("POST", f"/benchmarks/{MC}/exports", {"json": {}}),
    ("PUT", "/embeddings/pixels", {"data": b"x"}), ("POST", "/annotations/import", {"files": {"file": ("a.csv", b"x")}}),
    ("POST", "/taxonomies", {"json": {"toml": "x"}}), ("GET", "/tokens", {}),
    ("POST", "/tokens", {"json": {"user": "x", "role": "admin"}}), ("POST", "/jobs/x/cancel", {}),
]


@pytest.mark.parametrize("method,path,kw", DATA_ROUTES, ids=[f"{m} {p}" for m, p, _ in DATA_ROUTES])
def test_anonymous_gets_401_on_every_data_route(tokens_server, method, path, kw):
    r = call(tokens_server, method, path, **kw)
    assert r.status_code == 401, r.text
    assert set(r.json()) == {"error", "file", "record", "field"}
    # a typed name is no identity once tokens exist; a wrong token neither
    r = call(tokens_server, method, path, headers={"X-Medviz-User": "alice@example.org"}, **kw)
    assert r.status_code == 401
    r = call(tokens_server, method, path, headers={"Authorization": "Bearer mvz_forged_token"}, **kw)
    assert r.status_code == 401


def test_health_and_openapi_stay_public(tokens_server):
    assert call(tokens_server, "GET", "/health").json()["mode"] == "tokens"
    assert call(tokens_server, "GET", "/openapi.json").status_code == 200


def test_reviewers_own_their_annotations(tokens_server):
    srv = tokens_server
    unit = _unit(srv)
    r = call(srv, "POST", f"/benchmarks/{MC}/annotations", "alice",
             json={"target_type": "pair", "target_id": unit, "tags": [TAG], "reviewer": "bob@example.org"})
    assert r.status_code == 201
    a = r.json()
    assert a["reviewer"] == "alice@example.org"          # the author is the token's user, never the body's
    aid = a["annotation_id"]
    r = call(srv, "POST", f"/annotations/{aid}/revisions", "bob", json={"revision": 1, "rationale": "mine now"})
    assert r.status_code == 403 and "alice@example.org" in r.json()["error"]
    r = call(srv, "POST", f"/annotations/{aid}/retract", "bob")
    assert r.status_code == 403
    r = call(srv, "POST", f"/annotations/{aid}/revisions", "admin", json={"revision": 1, "rationale": "admin edit"})
    assert r.status_code == 403                          # nobody, admins included, alters another's annotation
    r = call(srv, "POST", f"/annotations/{aid}/revisions", "alice", json={"revision": 1, "confidence": 5})
    assert r.status_code == 201 and r.json()["revision"] == 2 and r.json()["confidence"] == 5
    r = call(srv, "POST", f"/annotations/{aid}/revisions", "alice", json={"revision": 1, "confidence": 4})
    assert r.status_code == 409 and r.json()["field"] == "revision"        # edited a stale revision
    r = call(srv, "POST", f"/annotations/{aid}/retract", "alice")
    assert r.status_code == 200 and r.json()["retracted"] is True
    r = call(srv, "POST", "/annotations/nope/retract", "alice")
    assert r.status_code == 404


def test_only_adjudicators_adjudicate(tokens_server):
    srv = tokens_server
    unit = _unit(srv)
    a = call(srv, "POST", f"/benchmarks/{MC}/annotations", "bob",
             json={"target_type": "pair", "target_id": unit, "tags": [TAG]}).json()
    body = {"target_type": "pair", "target_id": unit, "tags": [TAG], "kind": "adjudication",
            "settles": [a["annotation_id"]]}
    assert call(srv, "POST", f"/benchmarks/{MC}/annotations", "alice", json=body).status_code == 403
    r = call(srv, "POST", f"/benchmarks/{MC}/annotations", "judge", json=body)
    assert r.status_code == 201 and r.json()["kind"] == "adjudication" and r.json()["reviewer"] == "judge@example.org"


def test_only_admins_publish_taxonomies_and_manage_tokens(tokens_server):
    from medviz.annotations import load_taxonomy
    srv = tokens_server
    toml = load_taxonomy().to_toml().replace("medviz-default-1", "team-2", 1)
    for who in ("alice", "judge"):
        assert call(srv, "POST", "/taxonomies", who, json={"toml": toml}).status_code == 403
    r = call(srv, "POST", "/taxonomies", "admin", json={"toml": toml})
    assert r.status_code == 201 and r.json()["version"] == "team-2"

    for who in ("alice", "judge"):
        assert call(srv, "GET", "/tokens", who).status_code == 403
        assert call(srv, "POST", "/tokens", who, json={"user": "eve", "role": "admin"}).status_code == 403
    r = call(srv, "POST", "/tokens", "admin", json={"user": "carol@example.org", "role": "reviewer"})
    assert r.status_code == 201
    carol = r.json()
    listed = call(srv, "GET", "/tokens", "admin").json()
    assert carol["token_id"] in {t["token_id"] for t in listed}
    assert all(carol["token"] not in str(t) for t in listed)            # the secret is shown once only
    hdr = {"Authorization": f"Bearer {carol['token']}"}
    assert requests.get(srv.api + "/benchmarks", headers=hdr, timeout=10).status_code == 200
    assert call(srv, "POST", f"/tokens/{carol['token_id']}/revoke", "alice").status_code == 403
    assert call(srv, "POST", f"/tokens/{carol['token_id']}/revoke", "admin").status_code == 200
    assert requests.get(srv.api + "/benchmarks", headers=hdr, timeout=10).status_code == 401


def test_import_keeps_others_authors_only_for_admins(tokens_server):
    srv = tokens_server
    unit = _unit(srv)
    a = call(srv, "POST", f"/benchmarks/{MC}/annotations", "bob",
             json={"target_type": "pair", "target_id": unit, "tags": [TAG], "rationale": "to export"}).json()
    csv = call(srv, "GET", f"/benchmarks/{MC}/annotations.csv", "alice")
    assert csv.status_code == 200 and b"to export" in csv.content
    lines = csv.content.decode().splitlines()
    mine = [ln for ln in lines[1:] if a["annotation_id"] in ln]
    # the same annotation under a new id: restoring it into this store is a new annotation by bob
    data = "\r\n".join([lines[0]] + [ln.replace(a["annotation_id"], "restored-" + a["annotation_id"][:8])
                                      for ln in mine]).encode()
    r = call(srv, "POST", "/annotations/import", "alice", files={"file": ("export.csv", data)})
    assert r.status_code == 403 and r.json()["field"] == "reviewer" and r.json()["file"] == "export.csv"
    r = call(srv, "POST", "/annotations/import", "admin", files={"file": ("export.csv", data)})
    assert r.status_code == 201 and r.json() == {"imported": 1, "imported_by": "admin@example.org"}
    r = call(srv, "POST", "/annotations/import", "admin", files={"file": ("export.csv", data)})
    assert r.status_code == 409                                   # already there: nothing overwritten
    got = call(srv, "GET", f"/benchmarks/{MC}/annotations", "alice", params={"reviewer": "bob@example.org"}).json()
    assert "restored-" + a["annotation_id"][:8] in {x["annotation_id"] for x in got}


def test_cli_tokens_and_reads_go_through_the_server_with_a_token(tokens_server):
    srv = tokens_server
    r = cli("tokens", "list", db=srv.db, check=False)            # no token: the server says 401
    assert r.returncode != 0 and "sign in" in r.stderr.lower() and "Traceback" not in r.stderr
    r = cli("tokens", "list", db=srv.db, env_extra={"MEDVIZ_TOKEN": srv.tokens["admin"]})
    assert "alice@example.org" in r.stdout
    r = cli("tokens", "create", "--user", "pipeline", "--role", "reviewer", db=srv.db,
            env_extra={"MEDVIZ_TOKEN": srv.tokens["alice"]}, check=False)
    assert r.returncode != 0 and "admin" in r.stderr
    r = cli("scores", MC, "--json", db=srv.db, env_extra={"MEDVIZ_TOKEN": srv.tokens["alice"]})
    assert r.stdout.strip().startswith("{")


def test_local_mode_refuses_a_non_loopback_interface(server_db):
    r = cli("serve", "--host", "0.0.0.0", "--port", "1", db=server_db, check=False, timeout=120)
    assert r.returncode == 2 and "local mode" in r.stderr and "Traceback" not in r.stderr
