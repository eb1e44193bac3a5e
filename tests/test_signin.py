"""The app's sign-in gate (medviz.ui.signin), run by Streamlit's AppTest: with [auth] or tokens configured a
visitor who has not signed in sees the sign-in page and nothing else; local mode says so on every page and
is refused off loopback."""
from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from medviz import auth  # noqa: E402
from medviz.ui import signin  # noqa: E402

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                 "client_id": "medviz", "client_secret": "s",
                 "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}}


def page(store):
    import streamlit as st
    from medviz.ui import signin as s
    who = s.gate(store)
    st.write("DATA: the benchmark table")
    st.download_button("Download annotations", b"x", file_name="a.csv")
    st.write(f"PRINCIPAL {who.name if who else None} {who.role if who else None} {who.source if who else None}")


def app(store, **kw) -> AppTest:
    at = AppTest.from_function(page, args=(store,), default_timeout=20)
    for k, v in kw.items():
        setattr(at, k, v)
    return at


def text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [t.value for t in at.title] + [t.value for t in at.subheader]
    return "\n".join(parts)


def shows_only_signin(at) -> None:
    body = text(at)
    assert "DATA" not in body and "PRINCIPAL" not in body
    assert not at.get("download_button") and not at.dataframe
    assert "Sign in" in body


def test_oidc_visitor_not_signed_in_sees_only_the_sign_in_page(store):
    at = app(store, secrets=AUTH, user={"is_logged_in": False}).run()
    assert not at.exception
    shows_only_signin(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.text_input                        # no local name either


def test_oidc_signed_in_user_gets_the_pages_with_roles_from_secrets(store):
    secrets = dict(AUTH, medviz={"adjudicators": ["lead@y.org"]})
    at = app(store, secrets=secrets, user={"is_logged_in": True, "email": "Lead@Y.org", "name": "Dr Lead"}).run()
    assert not at.exception
    assert "PRINCIPAL lead@y.org adjudicator oidc" in text(at)
    assert any("Signed in as" in c.value for c in at.sidebar.caption)
    assert auth.LOCAL_MODE_NOTICE not in text(at)


def test_oidc_without_authlib_says_how_to_install_instead_of_crashing(store, monkeypatch):
    real = signin.importlib.util.find_spec
    monkeypatch.setattr(signin.importlib.util, "find_spec", lambda n, *a: None if n == "authlib" else real(n, *a))
    at = app(store, secrets=AUTH, user={"is_logged_in": False}).run()
    assert not at.exception
    assert "Authlib is not installed" in text(at) and "medviz[auth]" in text(at)
    assert "DATA" not in text(at)


def test_tokens_mode_needs_a_valid_token_and_a_revoked_one_stops_working(store):
    token = auth.create_token(store, "alice", "reviewer", by=auth.file_owner())
    at = app(store).run()
    shows_only_signin(at)
    at.text_input[0].input("mvz_wrong_token")
    at.button[0].click().run()
    assert "not a valid token" in text(at) and "DATA" not in text(at)
    at.text_input[0].input(token)
    at.button[0].click().run()
    assert not at.exception
    assert "PRINCIPAL alice reviewer token" in text(at)
    auth.revoke_token(store, auth.token_id_of(token), by=auth.file_owner())
    at.run()
    shows_only_signin(at)
    assert "no longer valid" in text(at)


def test_local_mode_says_so_on_every_page_and_signs_in_by_typed_name(store, monkeypatch):
    monkeypatch.setattr(signin, "serving_host", lambda: "127.0.0.1")
    at = app(store).run()
    assert not at.exception
    assert any(auth.LOCAL_MODE_NOTICE in c.value for c in at.sidebar.caption)
    assert "DATA" in text(at) and "PRINCIPAL None" in text(at)          # reading is open on this machine
    at.sidebar.text_input[0].input("Dr A. Rivera").run()
    assert "PRINCIPAL Dr A. Rivera reviewer local" in text(at)
    assert any("Reviewer:" in c.value for c in at.sidebar.caption)
    at.sidebar.button[0].click().run()                                  # change reviewer
    assert "PRINCIPAL None" in text(at) and at.sidebar.text_input
    at.sidebar.text_input[0].input("example (synthetic)").run()
    assert "reserved" in text(at) and "PRINCIPAL None" in text(at)


def test_local_mode_is_refused_off_loopback(store, monkeypatch):
    monkeypatch.setattr(signin, "serving_host", lambda: "0.0.0.0")
    at = app(store).run()
    assert not at.exception
    assert "refusing to listen on every interface" in text(at) and "DATA" not in text(at)
    monkeypatch.setattr(signin, "serving_host", lambda: "")             # streamlit run without an address
    assert "refusing to listen" in text(app(store).run())


def test_remembered_name_cookie_is_validated_and_the_script_cannot_be_escaped():
    assert signin.remembered_name({"medviz_reviewer": "Dr%20A.%20Rivera"}) == "Dr A. Rivera"
    assert signin.remembered_name({"medviz_reviewer": "example%20(synthetic)"}) is None
    assert signin.remembered_name({"medviz_reviewer": "%00%01"}) is None
    assert signin.remembered_name({}) is None
    js = signin.cookie_script('</script><img src=x onerror=alert(1)>"')
    assert js.count("</script>") == 1 and "<img" not in js and "max-age=31536000" in js
    assert "max-age=0" in signin.cookie_script(None)


# --- the real app.py -----------------------------------------------------------------------------------------------

APP = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app_db(sample_store_file, tmp_path, monkeypatch):
    import shutil
    db = str(tmp_path / "app.duckdb")
    shutil.copy(sample_store_file, db)
    monkeypatch.setenv("MEDVIZ_DB", db)
    return db


def _nothing_of_the_data(at) -> None:
    body = text(at) + "\n".join(i.value for i in at.info)
    assert not at.exception
    assert "sample-mediconfusion" not in body and "Database:" not in body
    for kind in ("dataframe", "selectbox", "multiselect", "download_button", "file_uploader"):
        assert not at.get(kind), kind


def test_app_with_auth_configured_shows_only_the_sign_in_page_on_every_url(app_db):
    for qp in ({}, {"b": "sample-mediconfusion", "pair": "s001"}):
        at = AppTest.from_file(APP, default_timeout=60)
        at.secrets, at.user = AUTH, {"is_logged_in": False}
        for k, v in qp.items():
            at.query_params[k] = v
        at.run()
        _nothing_of_the_data(at)
        assert [b.label for b in at.button] == ["Sign in"]


def test_app_in_tokens_mode_signs_in_with_a_token_and_saves_under_its_name(app_db):
    from medviz.annotations import current_annotations
    from medviz.store import Store
    from medviz.ui.navigation import REVIEW, SPECS
    with Store(app_db) as s:
        token = auth.create_token(s, "dr.token@x.org", "reviewer", by=auth.file_owner())
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["b"], at.query_params["pair"] = "sample-mediconfusion", "s007"
    at.run()
    _nothing_of_the_data(at)
    at.text_input[0].input(token)
    at.button[0].click().run()
    assert not at.exception and "Signed in as" in text(at)
    at.switch_page(SPECS[REVIEW].path).run()
    key = "sample-mediconfusion::s007"
    at.button(key=f"q0::{key}").click().run()
    at.session_state["advance_after_save"] = False
    at.button(key=f"save::{key}").click().run()
    assert not at.exception
    from medviz.ui import data
    mine = current_annotations(data.store(app_db), "sample-mediconfusion")
    assert list(mine["reviewer"]) == ["dr.token@x.org"]
