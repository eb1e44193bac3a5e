"""Identity enforced in the domain layer: the authorization matrix through the Python API, tokens hashed at
rest and revocable, import rules (authors, forged adjudications, revision gaps), modes and the tokens CLI."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json

import pytest

from medviz import auth
from medviz.annotations import Annotation, close_writer, current_annotations, get_writer, history, load_taxonomy
from medviz.annotations import active_taxonomy, publish_taxonomy, taxonomy_from_text
from medviz.annotations.identity import Reviewer
from medviz.auth import AuthError, Forbidden
from medviz.errors import MedvizError
from medviz.store import annotations as asql

MC = "sample-mediconfusion"
DETAIL = "Perceptual error/Detail missed"
IGNORED = "Visual confusion/Image ignored"


def who(name, role="reviewer"):
    return auth.local(name, adjudicators=[name] if role == "adjudicator" else [],
                      admins=[name] if role == "admin" else [])


def ann(target="p1", reviewer="alice", tags=(DETAIL,), **kw):
    return Annotation(MC, kw.pop("target_type", "pair"), target, list(tags), reviewer, **kw)


def edited_taxonomy(version="site-2"):
    base = load_taxonomy()
    return taxonomy_from_text(base.to_toml().replace(base.version, version))


@pytest.fixture
def w(store):
    yield get_writer(store)
    close_writer(store)


def revisions(store) -> int:
    return asql.revision_counts(store.cursor())["revisions"]


# --- principals: only medviz.auth issues them ---------------------------------------------------------------

def _forged():
    real = who("alice")
    return {
        "anonymous": None,
        "a plain name": "alice",
        "Reviewer built by hand": Reviewer("Mallory", role="adjudicator"),
        "Principal built by hand": auth.Principal("Mallory", role="admin", source="token"),
        "issued, role replaced": dataclasses.replace(real, role="admin"),
        "issued, copied": copy.copy(real),
        "look-alike class": type("Principal", (), {"name": "alice", "role": "admin", "source": "file"})(),
    }


@pytest.mark.parametrize("label", list(_forged()))
def test_a_principal_not_issued_by_auth_can_do_nothing(store, w, label):
    mine = w.save(ann(), who("alice"))
    bad = _forged()[label]
    attempts = {
        "save": lambda: w.save(ann("p2", reviewer="Mallory"), bad),
        "revise": lambda: w.save(mine.edit(confidence=5), bad),
        "save many": lambda: w.save_many([ann("p4", reviewer="Mallory")], bad),
        "bulk tag": lambda: w.tag_targets(MC, "pair", ["p5", "p6"], [DETAIL], bad),
        "retract": lambda: w.retract(mine.annotation_id, bad),
        "adjudicate": lambda: w.adjudicate(ann(), bad, settles=[mine.annotation_id]),
        "publish": lambda: publish_taxonomy(store, edited_taxonomy(), bad),
        "import": lambda: w.import_rows([ann("p3", annotation_id="x1", revision=1)], bad),
        "create token": lambda: auth.create_token(store, "mallory", "admin", by=bad),
        "list tokens": lambda: auth.list_tokens(store, by=bad),
    }
    for name, attempt in attempts.items():
        with pytest.raises(AuthError) as e:
            attempt()
        assert e.value.http_status == 401, name
    assert revisions(store) == 1 and len(auth.list_tokens(store, by=auth.file_owner())) == 0
    assert active_taxonomy(store).version == load_taxonomy().version


def test_issued_principals_carry_source_and_role(store, monkeypatch):
    monkeypatch.setenv("MEDVIZ_ADMINS", "boss@x.org")
    monkeypatch.setenv("MEDVIZ_ADJUDICATORS", "Chief")
    assert (auth.local("chief").role, auth.local("Ann").role, auth.local("boss@x.org").role) == \
        ("adjudicator", "reviewer", "admin")
    u = auth.from_oidc({"is_logged_in": True, "email": "Lead@Y.org", "name": "Dr Lead"},
                       {"medviz": {"adjudicators": ["lead@y.org"], "admins": []}})
    assert (u.name, u.role, u.source, u.display_name) == ("lead@y.org", "adjudicator", "oidc", "Dr Lead")
    assert auth.from_oidc({"email": "boss@x.org"}).role == "admin"          # env lists count for OIDC too
    assert auth.from_oidc({"sub": "42", "iss": "https://idp"}).name == "42@https://idp"
    with pytest.raises(AuthError):
        auth.from_oidc({"is_logged_in": False})
    owner = auth.file_owner()
    assert (owner.role, owner.source) == ("admin", "file") and auth.check(owner) is owner
    for reserved in ("example (synthetic)", "File Owner", "someone (synthetic)"):
        with pytest.raises(MedvizError, match="reserved"):
            auth.local(reserved)


# --- the authorization matrix ----------------------------------------------------------------------------------

def test_reviewers_revise_and_retract_only_their_own(store, w):
    a = w.save(ann(), who("alice"))
    bob = who("bob")
    for attempt in (lambda: w.save(a.edit(confidence=5), bob),                 # alice's name, bob signed in
                    lambda: w.save(a.edit(reviewer="bob", confidence=5), bob),  # bob's name on alice's id
                    lambda: w.retract(a.annotation_id, bob),
                    lambda: w.retract(a.annotation_id, who("carol", "adjudicator")),
                    lambda: w.save(a.edit(confidence=5), who("dana", "admin"))):
        with pytest.raises(Forbidden, match="belongs to reviewer 'alice'") as e:
            attempt()
        assert e.value.http_status == 403
    assert list(history(store, a.annotation_id)["revision"]) == [1]
    b = w.save(a.edit(confidence=5), who("alice"))
    assert b.revision == 2 and b.reviewer == "alice"
    assert w.retract(a.annotation_id, who("alice")).retracted
    assert current_annotations(store).empty


def test_nobody_saves_under_another_name_except_an_admin(store, w):
    with pytest.raises(Forbidden, match="signed in as 'bob'"):
        w.save(ann(reviewer="alice"), who("bob"))
    with pytest.raises(Forbidden):
        w.save(ann(reviewer="alice"), who("carol", "adjudicator"))
    assert revisions(store) == 0
    with pytest.raises(Forbidden, match="signed in as 'bob'"):
        w.save_many([ann("p2", reviewer="bob"), ann("p3", reviewer="alice")], who("bob"))
    assert revisions(store) == 0
    bulk = w.tag_targets(MC, "pair", ["p5", "p6"], [DETAIL], who("bob"))            # bulk tags are the signer's
    assert set(current_annotations(store).set_index("annotation_id").loc[bulk, "reviewer"]) == {"bob"}
    a = w.save(ann(reviewer=None), who("bob"))                   # no name: the signed-in principal's
    assert a.reviewer == "bob"
    on_behalf = w.save(ann("p9", reviewer="alice"), who("dana", "admin"))
    assert [x.reviewer for x in w.save_many([ann("p7", reviewer="erin")], who("dana", "admin"))] == ["erin"]
    assert on_behalf.reviewer == "alice"
    assert w.save(on_behalf.edit(confidence=2), who("alice")).revision == 2


def test_only_adjudicators_adjudicate_and_only_admins_publish(store, w):
    a = w.save(ann(), who("alice"))
    b = w.save(ann(tags=[IGNORED], reviewer="bob"), who("bob"))
    with pytest.raises(Forbidden, match="only adjudicators") as e:
        w.adjudicate(ann(), who("bob"), settles=[a.annotation_id, b.annotation_id])
    assert e.value.http_status == 403
    for p in (who("bob"), who("carol", "adjudicator")):
        with pytest.raises(Forbidden, match="only admins"):
            publish_taxonomy(store, edited_taxonomy(), p)
    assert revisions(store) == 2 and active_taxonomy(store).version == load_taxonomy().version
    c = w.adjudicate(ann(reviewer="whoever"), who("carol", "adjudicator"), settles=[a.annotation_id])
    assert (c.kind, c.reviewer) == ("adjudication", "carol")
    d = w.adjudicate(ann(), who("dana", "admin"), settles=[b.annotation_id])          # admins may too
    assert d.reviewer == "dana"
    publish_taxonomy(store, edited_taxonomy(), who("dana", "admin"))
    assert active_taxonomy(store).version == "site-2"


# --- import: authors, forged adjudications, revision gaps -------------------------------------------------------

def _t(s):
    from datetime import datetime
    return datetime(2025, 1, 1, 12, 0, s)


def row(aid, rev, reviewer="alice", target="p1", **kw):
    return ann(target, reviewer=reviewer, annotation_id=aid, revision=rev, created_at=_t(0), updated_at=_t(rev),
               **kw)


def test_import_keeps_others_authors_only_for_an_admin_and_records_the_importer(store, w):
    with pytest.raises(Forbidden, match="only admins import annotations on others' behalf"):
        w.import_rows([row("a1", 1, "alice"), row("b1", 1, "bob")], who("alice"))
    assert revisions(store) == 0
    assert w.import_rows([row("a1", 1, "alice")], who("alice"), source="mine.csv") == 1
    assert w.import_rows([row("b1", 1, "bob"), row("c1", 2, "carol")], who("dana", "admin"), source="all.csv") == 2
    cur = current_annotations(store).set_index("annotation_id")
    assert cur.loc["b1", "reviewer"] == "bob" and cur.loc["c1", "revision"] == 2
    log = asql.imports(store.cursor())
    assert list(log["imported_by"]) == ["alice", "dana"] and list(log["source"]) == ["mine.csv", "all.csv"]
    assert [list(x) for x in log["annotation_ids"]] == [["a1"], ["b1", "c1"]]


def test_import_refuses_forged_adjudications(store, w, monkeypatch):
    monkeypatch.delenv("MEDVIZ_ADJUDICATORS", raising=False)
    monkeypatch.delenv("MEDVIZ_ADMINS", raising=False)
    w.import_rows([row("a1", 1, "alice"), row("b1", 1, "bob")], who("dana", "admin"))
    adj = row("j1", 1, "mallory", kind="adjudication", settles=["a1", "b1"])
    with pytest.raises(Forbidden, match="forged adjudication: 'mallory' is not an adjudicator"):
        w.import_rows([adj], who("dana", "admin"))
    with pytest.raises(Forbidden, match="forged adjudication"):     # a reviewer importing their own "adjudication"
        w.import_rows([dataclasses.replace(adj, reviewer="bob")], who("bob"))
    with pytest.raises(MedvizError, match="forged adjudication: it settles nope"):
        w.import_rows([dataclasses.replace(adj, reviewer="dana", settles=["a1", "nope"])], who("dana", "admin"))
    with pytest.raises(MedvizError, match="forged adjudication: it settles a1"):           # another target
        w.import_rows([dataclasses.replace(adj, reviewer="dana", target_id="p2")], who("dana", "admin"))
    assert revisions(store) == 2
    # a real adjudicator's adjudication (role from a token or the configuration) is restored
    auth.create_token(store, "carol", "adjudicator", by=auth.file_owner())
    assert w.import_rows([dataclasses.replace(adj, reviewer="carol")], who("dana", "admin")) == 1
    monkeypatch.setenv("MEDVIZ_ADJUDICATORS", "erin")
    assert w.import_rows([dataclasses.replace(adj, annotation_id="j2", reviewer="erin")], who("dana", "admin")) == 1


def test_import_refuses_revision_gaps_and_continues_only_the_authors_own(store, w):
    admin = who("dana", "admin")
    w.import_rows([row("a1", 1, "alice")], admin)
    with pytest.raises(MedvizError, match="revision gap: the database has revision 1") as e:
        w.import_rows([row("a1", 3, "alice")], admin)
    assert e.value.field == "revision"
    with pytest.raises(MedvizError, match=r"revision gap: the file has revisions \[1, 3\]"):
        w.import_rows([row("n1", 1), row("n1", 3)], admin)
    with pytest.raises(MedvizError, match="already in the database"):
        w.import_rows([row("a1", 1, "alice")], admin)
    with pytest.raises(Forbidden, match="belongs to reviewer 'alice'"):
        w.import_rows([row("a1", 2, "mallory")], admin)                 # someone else's next revision
    with pytest.raises(MedvizError, match="revision must be a whole number from 1"):
        w.import_rows([row("z1", 0)], admin)
    assert revisions(store) == 1
    assert w.import_rows([row("a1", 2, "alice", confidence=5)], who("alice")) == 1   # the next one, by the author
    assert list(history(store, "a1")["revision"]) == [1, 2]
    assert asql.revision_gaps(store.cursor()) == 0


def test_import_file_is_checked_for_the_principal_and_errors_name_the_file(store, w, tmp_path):
    from medviz.export import export_annotations, import_annotations
    from medviz.store import Store
    w.save(ann(reviewer="alice"), who("alice"))
    w.save(ann("p2", reviewer="bob"), who("bob"))
    out = tmp_path / "team.csv"
    export_annotations(store, str(out))
    with Store(str(tmp_path / "other.duckdb")) as other:
        try:
            with pytest.raises(Forbidden) as e:
                import_annotations(other, str(out), by=who("alice"))
            assert "team.csv" in str(e.value) and e.value.field == "reviewer"
            with pytest.raises(AuthError):
                import_annotations(other, str(out), by=Reviewer("alice", role="admin"))
            assert current_annotations(other).empty
            assert import_annotations(other, str(out), by=auth.file_owner()) == 2
            assert sorted(current_annotations(other)["reviewer"]) == ["alice", "bob"]
        finally:
            close_writer(other)


# --- tokens ------------------------------------------------------------------------------------------------------

def test_tokens_are_hashed_at_rest_authenticate_and_revoke(tmp_path):
    from medviz.store import Store
    path = str(tmp_path / "tok.duckdb")
    with Store(path) as s:
        owner = auth.file_owner()
        admin_token = auth.create_token(s, "dana", "admin", by=owner)
        admin = auth.authenticate_token(s, f"Bearer {admin_token}")
        assert (admin.name, admin.role, admin.source) == ("dana", "admin", "token")
        token = auth.create_token(s, "alice", "reviewer", by=admin)              # an admin token manages tokens
        alice = auth.authenticate_token(s, token)
        assert (alice.name, alice.role) == ("alice", "reviewer") and auth.check(alice) is alice
        for p in (alice, auth.authenticate_token(s, auth.create_token(s, "carol", "adjudicator", by=admin))):
            with pytest.raises(Forbidden, match="only admins may manage tokens"):
                auth.create_token(s, "x", "admin", by=p)
            with pytest.raises(Forbidden):
                auth.revoke_token(s, auth.token_id_of(admin_token), by=p)
        tid = auth.token_id_of(token)
        listed = auth.list_tokens(s, by=admin).set_index("token_id")
        assert listed.loc[tid, "user_name"] == "alice" and listed.loc[tid, "created_by"] == "dana"
        assert not any(token in str(v) for v in listed.astype(str).to_numpy().ravel())
        stored = s.cursor().execute("SELECT token_sha256 FROM api_tokens WHERE token_id = ?", [tid]).fetchone()[0]
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        auth.revoke_token(s, tid, by=admin)
        with pytest.raises(AuthError, match="unknown or revoked"):
            auth.authenticate_token(s, f"Bearer {token}")
        with pytest.raises(MedvizError, match="already revoked"):
            auth.revoke_token(s, tid, by=admin)
        assert auth.list_tokens(s, by=admin).set_index("token_id").loc[tid, "revoked_by"] == "dana"
        for bad in (None, "", "Bearer ", "Bearer mvz_nope", token[:-1], "x" * 10_000, 42):
            with pytest.raises(AuthError) as e:
                auth.authenticate_token(s, bad)
            assert e.value.http_status == 401
        with pytest.raises(MedvizError, match="unknown role"):
            auth.create_token(s, "x", "root", by=admin)
        s.cursor().execute("CHECKPOINT")
    raw = open(path, "rb").read()
    for t in (token, admin_token):
        assert t.encode() not in raw and t.split("_", 2)[2].encode() not in raw     # the plaintext is nowhere
    assert auth.token_id_of(token).encode() in raw                                # (the file is what we think)


def test_tokens_cli_creates_once_lists_and_revokes(tmp_path, capsys):
    from medviz.cli import main
    db = str(tmp_path / "cli.duckdb")
    assert main(["tokens", "create", "--user", "alice", "--role", "reviewer", "--db", db]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("mvz_") and "shown once" in out.err
    assert main(["tokens", "list", "--json", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["user_name"], r["role"], r["created_by"], r["revoked_at"]) for r in rows] == \
        [("alice", "reviewer", "file owner", None)]
    assert main(["tokens", "list", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "alice" in text and "active" in text and token not in text
    assert main(["tokens", "revoke", rows[0]["token_id"], "--db", db]) == 0
    assert main(["tokens", "revoke", "nope", "--db", db]) == 2
    assert "no token with id 'nope'" in capsys.readouterr().err
    from medviz.store import Store
    with Store(db) as s:
        with pytest.raises(AuthError):
            auth.authenticate_token(s, token)


# --- modes ---------------------------------------------------------------------------------------------------------

def test_auth_mode_and_local_mode_only_on_loopback(store):
    assert auth.auth_mode({"auth": {"client_id": "x"}}, "0.0.0.0", store) == "oidc"
    assert auth.auth_mode({}, "127.0.0.1", store) == "local"
    t = auth.create_token(store, "dana", "admin", by=auth.file_owner())
    assert auth.auth_mode({}, "0.0.0.0", store) == "tokens"
    auth.revoke_token(store, auth.token_id_of(t), by=auth.file_owner())
    assert auth.auth_mode(None, "0.0.0.0", store) == "tokens"     # revoking every token does not reopen local mode
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        auth.refuse_non_loopback("local", host)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org", ""):
        with pytest.raises(MedvizError, match="refusing to listen") as e:
            auth.refuse_non_loopback("local", host)
        assert "[auth]" in str(e.value) and "medviz tokens create" in str(e.value)
    auth.refuse_non_loopback("tokens", "0.0.0.0")
    auth.refuse_non_loopback("oidc", "0.0.0.0")
