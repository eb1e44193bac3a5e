"""Annotations: taxonomy, identity rules, revisions, permissions, adjudication, agreement and statistics."""
from __future__ import annotations

import math

import pytest

from medviz.annotations import (ADJUDICATOR, ALL_MODELS, Annotation, agreement, blind_vs_tags, close_writer,
                                current_annotations, disagreement_queue, disputed_items, failure_mode_stats,
                                get_writer, history, load_taxonomy, local_reviewer, reviewer_from_user)
from medviz.annotations.agreement import cohen_kappa, krippendorff_alpha_binary
from medviz import auth
from medviz.errors import MedvizError

MC, GMAI = "sample-mediconfusion", "sample-gmai"
IGNORED = "Visual confusion/Image ignored"
DETAIL = "Perceptual error/Detail missed"
DISPUTED = "Answer key disputed"
BLIND = "image-blind-baseline"


@pytest.fixture(scope="module")
def demo_file(sample_store_file):
    return sample_store_file


@pytest.fixture
def demo(sample_store):
    return sample_store


@pytest.fixture
def w(store):
    yield get_writer(store)
    close_writer(store)


def who(name, role="reviewer"):
    """``name`` signed in as medviz.auth issues it in local mode, with ``role`` configured for that name."""
    return auth.local(name, adjudicators=[name] if role == ADJUDICATOR else [],
                      admins=[name] if role == "admin" else [])


def save(w, a):
    """Save ``a`` as its own reviewer, signed in."""
    return w.save(a, who(a.reviewer or "alice"))


def ann(target="p1", tags=(DETAIL,), reviewer="alice", **kw):
    kw.setdefault("target_type", "pair")
    return Annotation(benchmark_id=kw.pop("benchmark_id", MC), target_id=target, tags=list(tags), reviewer=reviewer,
                      **kw)


# --- taxonomy -------------------------------------------------------------------------------------------

def test_default_taxonomy_has_gmai_classes_confusion_patterns_and_disputed_key():
    tax = load_taxonomy()
    paths = tax.paths()
    for p in ("Question misunderstanding", DETAIL, "Perceptual error/Misinterpretation",
              "Knowledge deficiency/Lack of knowledge", "Knowledge deficiency/Unable to determine",
              "Irrelevant response", "Refusal", "Visual confusion/Normal vs abnormal",
              "Visual confusion/Lesion appearance", "Visual confusion/Vascular finding",
              "Visual confusion/Device or implant", "Visual confusion/Location or laterality",
              "Visual confusion/Count or size", "Visual confusion/Modality, view or contrast phase", IGNORED,
              DISPUTED):
        assert p in paths
    assert tax.version and tax.label(DETAIL) == "Detail missed"
    assert tax.path_for_role("image_ignored") == IGNORED
    assert tax.path_for_role("answer_key_disputed") == DISPUTED
    assert paths.index("Perceptual error") < paths.index(DETAIL)


def test_taxonomy_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('version = "x"\n[[tag]]\nname = "A/B"\n')
    with pytest.raises(MedvizError, match="t.toml"):
        load_taxonomy(str(bad))
    bad.write_text('[[tag]]\nname = "A"\n')
    with pytest.raises(MedvizError, match="version"):
        load_taxonomy(str(bad))
    good = tmp_path / "t.json"
    good.write_text('{"version": "v9", "tag": [{"name": "A", "children": [{"name": "B"}]}]}')
    assert load_taxonomy(str(good)).paths() == ["A", "A/B"]


# --- identity -----------------------------------------------------------------------------------------

def test_roles_from_config_and_oidc_claims():
    r = local_reviewer("  Dr  Smith ", adjudicators=["dr smith"])
    assert r.name == "Dr Smith" and r.role == ADJUDICATOR
    assert local_reviewer("Ann", adjudicators=[]).role == "reviewer"
    with pytest.raises(MedvizError):
        local_reviewer("example (synthetic)")
    with pytest.raises(MedvizError):
        local_reviewer("   ")
    u = reviewer_from_user({"is_logged_in": True, "email": "A.Lee@Hospital.org", "name": "A Lee"},
                           adjudicators=["a.lee@hospital.org"])
    assert (u.name, u.role, u.source, u.display_name) == ("a.lee@hospital.org", ADJUDICATOR, "oidc", "A Lee")
    with pytest.raises(MedvizError):
        reviewer_from_user({"is_logged_in": False})


# --- revisions and permissions ----------------------------------------------------------------------------

def test_save_edit_retract_keeps_full_history(store, w):
    a = save(w, ann(rationale="first"))
    assert a.annotation_id and a.revision == 1 and a.taxonomy_version == load_taxonomy().version
    b = save(w, a.edit(tags=[DETAIL, IGNORED], rationale="second", confidence=5))
    assert (b.annotation_id, b.revision, b.created_at) == (a.annotation_id, 2, a.created_at)
    assert b.updated_at >= a.updated_at
    cur = current_annotations(store, MC)
    assert len(cur) == 1 and list(cur.loc[0, "tags"]) == [DETAIL, IGNORED] and cur.loc[0, "revision"] == 2
    w.retract(a.annotation_id, who("alice"))
    assert current_annotations(store, MC).empty
    h = history(store, a.annotation_id)
    assert list(h["revision"]) == [1, 2, 3] and list(h["retracted"]) == [False, False, True]
    assert list(h["rationale"]) == ["first", "second", "second"]


def test_nobody_alters_another_reviewers_annotation(store, w):
    a = save(w, ann())
    with pytest.raises(MedvizError, match="belongs to reviewer 'alice'"):
        save(w, a.edit(reviewer="bob", tags=[IGNORED]))
    with pytest.raises(MedvizError, match="belongs to reviewer 'alice'"):
        w.retract(a.annotation_id, who("bob"))
    adj = who("carol", ADJUDICATOR)
    with pytest.raises(MedvizError, match="belongs to reviewer 'alice'"):
        w.retract(a.annotation_id, adj)
    assert list(history(store, a.annotation_id)["revision"]) == [1]


def test_stale_edit_is_refused_not_silently_applied(store, w):
    a = save(w, ann())
    save(w, a.edit(confidence=4))
    with pytest.raises(MedvizError, match="changed since you opened it"):
        save(w, a.edit(confidence=1))          # based on revision 1, but 2 is current
    assert current_annotations(store).loc[0, "confidence"] == 4


@pytest.mark.parametrize("change, field", [
    ({"tags": ["No such/tag"]}, "tags"), ({"tags": []}, "tags"), ({"confidence": 0}, "confidence"),
    ({"confidence": 6}, "confidence"), ({"confidence": 2.5}, "confidence"), ({"target_type": "image"}, "target_type"),
    ({"reviewer": ""}, "reviewer"), ({"tags": [DISPUTED]}, "proposed_answer"), ({"model": ALL_MODELS}, "model"),
])
def test_invalid_annotations_are_refused_with_the_field(store, w, change, field):
    with pytest.raises(MedvizError) as e:
        save(w, ann().edit(**change))
    assert e.value.field == field
    assert current_annotations(store).empty


def test_disputed_answer_key_keeps_the_proposed_answer(demo):
    w = get_writer(demo)
    save(w, ann("s004", [DISPUTED], proposed_answer=" B ", rationale="key looks swapped"))
    d = disputed_items(demo, MC)
    assert list(d["target_id"]) == ["s004"] and list(d.loc[0, "item_ids"]) == ["s004-1", "s004-2"]
    assert list(d.loc[0, "proposed_answers"]) == ["B"]
    from medviz.annotations import rescore_without_disputed
    res = rescore_without_disputed(demo, MC)
    assert res["excluded_items"] == ["s004-1", "s004-2"]
    assert all(m["pairs"] == 7 for m in res["scores"].values())


def test_adjudication_is_its_own_revision_and_needs_the_role(demo):
    w = get_writer(demo)
    a = save(w, ann("s001", [IGNORED], "alice", model=BLIND))
    b = save(w, ann("s001", [DETAIL], "bob", model=BLIND))
    q = disagreement_queue(demo, MC)
    assert list(q["target_id"]) == ["s001"] and q.loc[0, "disputed_tags"] == sorted([IGNORED, DETAIL])
    with pytest.raises(MedvizError, match="only adjudicators"):
        w.adjudicate(ann("s001", [IGNORED], "bob", model=BLIND), who("bob"), settles=[a.annotation_id])
    with pytest.raises(MedvizError, match="same target"):
        w.adjudicate(ann("s002", [IGNORED], "x", model=BLIND), who("carol", ADJUDICATOR),
                     settles=[a.annotation_id])
    c = w.adjudicate(ann("s001", [IGNORED], "ignored", model=BLIND), who("carol", ADJUDICATOR),
                     settles=[a.annotation_id, b.annotation_id])
    assert c.kind == "adjudication" and c.reviewer == "carol" and c.revision == 1
    assert disagreement_queue(demo, MC).empty
    assert disagreement_queue(demo, MC, include_resolved=True).loc[0, "adjudication_id"] == c.annotation_id
    # the reviewers' own annotations are untouched
    assert len(history(demo, a.annotation_id)) == 1 and len(history(demo, b.annotation_id)) == 1
    # a reviewer's later edit re-opens the item
    save(w, b.edit(tags=[DETAIL, "Refusal"]))
    assert list(disagreement_queue(demo, MC)["target_id"]) == ["s001"]


# --- agreement maths --------------------------------------------------------------------------------------

def test_cohen_kappa_textbook_table():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5 -> kappa 0.4
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))


def test_krippendorff_alpha_matches_krippendorffs_binary_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", binary data, 2 coders, 10 units
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha_binary(list(zip(a, b))) == pytest.approx(0.095, abs=5e-4)
    assert krippendorff_alpha_binary([[1, 1, 1], [0, 0], [1, 1]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_binary([[1, 1], [1, 1]]))


def test_agreement_reports_items_behind_each_figure(demo):
    w = get_writer(demo)
    for pid, (ta, tb) in {"s001": ([IGNORED], [IGNORED]), "s002": ([IGNORED], [IGNORED]),
                          "s003": ([IGNORED], [DETAIL]), "s004": ([DETAIL], [DETAIL])}.items():
        save(w, ann(pid, ta, "alice", model=BLIND))
        save(w, ann(pid, tb, "bob", model=BLIND))
    save(w, ann("s005", [IGNORED], "alice", model=BLIND))            # single reviewer: not in agreement
    res = agreement(demo, MC)
    assert res["n_units"] == 5 and res["n_multi"] == 4 and res["reviewers"] == ["alice", "bob"]
    row = res["cohen"].iloc[0]
    assert (row.n_items, row.n_decisions) == (4, 8)
    # decisions (IGNORED, DETAIL) per unit: alice 10 10 10 01, bob 10 10 01 01
    xa, xb = [1, 0, 1, 0, 1, 0, 0, 1], [1, 0, 1, 0, 0, 1, 0, 1]
    assert row.kappa == pytest.approx(cohen_kappa(xa, xb)) and row.exact_match == 0.75
    per_tag = res["per_tag"].set_index("tag")
    assert per_tag.loc[IGNORED, "n_items"] == 4
    assert per_tag.loc[IGNORED, "alpha"] == pytest.approx(
        krippendorff_alpha_binary([[1, 1], [1, 1], [1, 0], [0, 0]]))


# --- statistics ---------------------------------------------------------------------------------------

def test_failure_mode_stats_counts_rates_and_wilson(demo):
    w = get_writer(demo)
    save(w, ann("s001", [IGNORED], "alice", model=BLIND))
    save(w, ann("s002", [IGNORED, DETAIL], "alice", model=BLIND))
    save(w, ann("s003", [DETAIL], "alice", model=BLIND))
    save(w, ann("0", ["Refusal"], "alice", benchmark_id=GMAI, target_type="item"))
    st = failure_mode_stats(demo, MC, by=("model",))
    r = st.set_index(["model", "tag"])
    assert (r.loc[(BLIND, IGNORED), "count"], r.loc[(BLIND, IGNORED), "n"]) == (2, 3)
    assert r.loc[(BLIND, DETAIL), "rate"] == pytest.approx(2 / 3)
    from medviz.scoring import wilson
    lo, hi = wilson(2, 3)
    assert (r.loc[(BLIND, IGNORED), "ci_low"], r.loc[(BLIND, IGNORED), "ci_high"]) == pytest.approx((lo, hi))
    top = failure_mode_stats(demo, MC, by=(), level="top").set_index("tag")
    assert top.loc["Visual confusion", "count"] == 2 and top.loc["Perceptual error", "n"] == 3
    cat = failure_mode_stats(demo, MC, by=("category",))
    assert set(cat["category"]) == {"Modality", "Cerebral", "Plane"}
    g = failure_mode_stats(demo, GMAI, by=("modality", "department", "model"))
    assert list(g["model"]) == [ALL_MODELS] and list(g["department"]) == ["Radiology"]
    with pytest.raises(MedvizError):
        failure_mode_stats(demo, MC, by=("colour",))


def test_blind_vs_tags_compares_measured_and_tagged(demo):
    w = get_writer(demo)
    save(w, ann("s001", [IGNORED], "alice", model=BLIND))
    save(w, ann("s002", [DETAIL], "alice", model=BLIND))
    save(w, ann("s003", [IGNORED], "alice"))                 # all models
    res = blind_vs_tags(demo, MC).set_index("model")
    row = res.loc[BLIND]
    assert row.n_pairs == 8 and row.image_blind == 8      # the baseline gives one letter per pair
    assert row.n_reviewed == 3 and row.tagged_image_ignored == 2
    assert (row.blind_and_tagged, row.blind_not_tagged, row.tagged_not_blind) == (2, 1, 0)
    other = res.drop(index=BLIND)
    assert (other["n_reviewed"] == 1).all()               # the all-models annotation counts for every model


def test_demo_hook_adds_labelled_synthetic_examples_once(demo):
    from medviz.annotations.demo import demo_hook
    n = demo_hook(demo)
    assert n >= 3
    cur = current_annotations(demo)
    assert set(cur["reviewer"]) <= {"example (synthetic)", "example 2 (synthetic)"}
    assert cur["rationale"].str.startswith("SYNTHETIC").all()
    assert demo_hook(demo) == 0 and len(current_annotations(demo)) == len(cur)
    assert not failure_mode_stats(demo, MC).empty and not agreement(demo, MC)["cohen"].empty


def test_admins_publish_new_taxonomy_versions(store, w):
    from medviz.annotations import active_taxonomy, publish_taxonomy, taxonomy_from_text
    old = save(w, ann())
    base = load_taxonomy()
    assert taxonomy_from_text(base.to_toml()).paths() == base.paths()      # TOML written back reads the same
    text = base.to_toml().replace(base.version, "site-2").replace('name = "Refusal"', 'name = "Refused to answer"')
    edited = taxonomy_from_text(text)
    with pytest.raises(MedvizError, match="only admins"):
        publish_taxonomy(store, edited, who("alice"))
    with pytest.raises(MedvizError, match="only admins"):
        publish_taxonomy(store, edited, who("carol", ADJUDICATOR))
    with pytest.raises(MedvizError, match="already exists"):
        publish_taxonomy(store, base, who("dana", "admin"))
    publish_taxonomy(store, edited, who("dana", "admin"))
    assert active_taxonomy(store).version == "site-2"
    new = save(w, ann(tags=["Refused to answer"]))
    assert new.taxonomy_version == "site-2"
    with pytest.raises(MedvizError, match="unknown tag"):
        save(w, ann(tags=["Refusal"]))                       # not in the active version any more
    again = save(w, old.edit(confidence=5))                 # old annotations keep their version
    assert again.taxonomy_version == base.version and again.revision == 2


def test_adjudicators_from_secrets_and_env(monkeypatch):
    from medviz.annotations.identity import adjudicators_from_config
    monkeypatch.setenv("MEDVIZ_ADJUDICATORS", "Boss@x.org, chief")
    adj = adjudicators_from_config({"medviz": {"adjudicators": ["Lead@Y.org"]}})
    assert adj == {"boss@x.org", "chief", "lead@y.org"}
    assert local_reviewer("Chief").role == ADJUDICATOR           # env is read by default
    assert adjudicators_from_config(None) == {"boss@x.org", "chief"}


def test_current_view_filters_and_row_round_trip(store, w):
    a = save(w, ann("p1", model="m1"))
    save(w, ann("p2", reviewer="bob"))                          # all models
    save(w, ann("p3", model="m2"))
    cur = current_annotations(store, MC, model="m1")
    assert sorted(cur["target_id"]) == ["p1", "p2"]               # m1's own plus the all-models one
    assert list(current_annotations(store, reviewer="bob")["target_id"]) == ["p2"]
    assert list(current_annotations(store, target_id="p3")["model"]) == ["m2"]
    assert current_annotations(store, "other-benchmark").empty
    row = current_annotations(store, target_id="p1").iloc[0]
    back = Annotation.from_row(row)
    assert back == a                                              # what the UI edits is what was saved


def _consensus_oracle(df):
    """Per-unit loop, the definition written out: latest adjudication wins, else tags >= half the reviewers."""
    out = {}
    for unit, g in df.groupby("unit"):
        adj = g[g["kind"] == "adjudication"]
        if len(adj):
            out[unit] = sorted(set(adj.sort_values("updated_at").iloc[-1]["tags"]))
            continue
        ann_ = g[g["kind"] == "annotation"]
        per = [set().union(*map(set, rg["tags"])) for _, rg in ann_.groupby("reviewer")]
        counts = {}
        for s in per:
            for t in s:
                counts[t] = counts.get(t, 0) + 1
        out[unit] = sorted(t for t, c in counts.items() if 2 * c >= len(per))
    return out


def test_consensus_matches_the_per_unit_definition(store, w):
    import random
    from medviz.annotations import consensus, current_annotations
    from medviz.annotations.queries import units
    rng = random.Random(3)
    tags = [DETAIL, DISPUTED, "Refusal", "Visual confusion/Image ignored"]
    for i in range(120):
        target = f"p{rng.randint(1, 15)}"
        t = rng.sample(tags[:1] + tags[2:], rng.randint(1, 2))
        save(w, ann(target=target, tags=t, reviewer=rng.choice(["alice", "bob", "carol", "dan"]),
                   model=rng.choice([None, "m1"])))
    judge = who("eve", ADJUDICATOR)
    w.adjudicate(ann(target="p3", tags=["Refusal"], reviewer="eve"), judge, settles=[])
    got = consensus(store, MC).set_index("unit")["tags"].to_dict()
    want = _consensus_oracle(units(current_annotations(store, MC)))
    assert got == want and len(got) > 10


def _agreement_oracle(store, bid):
    """The definitions as loops over reviewer pairs and units (slow, obviously right)."""
    import itertools
    from medviz.annotations.agreement import judgements
    j = judgements(store, bid)
    sets = {(r.unit, r.reviewer): set(r.tags) for r in j.itertuples()}
    by_unit = {}
    for unit, reviewer in sets:
        by_unit.setdefault(unit, []).append(reviewer)
    cohen = {}
    for ra, rb in itertools.combinations(sorted(j["reviewer"].unique()), 2):
        shared = [u for u, rs in by_unit.items() if ra in rs and rb in rs]
        if not shared:
            continue
        tags = sorted(set().union(*(sets[(u, ra)] | sets[(u, rb)] for u in shared)))
        xa = [t in sets[(u, ra)] for u in shared for t in tags]
        xb = [t in sets[(u, rb)] for u in shared for t in tags]
        cohen[(ra, rb)] = (len(shared), len(xa), cohen_kappa(xa, xb),
                           sum(sets[(u, ra)] == sets[(u, rb)] for u in shared) / len(shared))
    multi = {u: rs for u, rs in by_unit.items() if len(rs) >= 2}
    tags = sorted({t for u, rs in multi.items() for r in rs for t in sets[(u, r)]})
    alpha = {t: krippendorff_alpha_binary([[int(t in sets[(u, r)]) for r in rs] for u, rs in multi.items()])
             for t in tags}
    return cohen, alpha


def test_vectorised_agreement_matches_the_definitions(store, w):
    import random
    rng = random.Random(11)
    tags = [DETAIL, "Refusal", "Visual confusion/Image ignored", "Irrelevant response"]
    for i in range(150):
        save(w, ann(target=f"p{rng.randint(1, 25)}", tags=rng.sample(tags, rng.randint(1, 2)),
                   reviewer=rng.choice(["alice", "bob", "carol", "dan", "erin"])))
    got = agreement(store, MC)
    cohen, alpha = _agreement_oracle(store, MC)
    g = {(r.reviewer_a, r.reviewer_b): r for r in got["cohen"].itertuples()}
    assert set(g) == set(cohen) and len(cohen) >= 8
    for k, (n_items, n_dec, kappa, exact) in cohen.items():
        assert (g[k].n_items, g[k].n_decisions) == (n_items, n_dec)
        assert g[k].kappa == pytest.approx(kappa, abs=1e-12, nan_ok=True)
        assert g[k].exact_match == pytest.approx(exact, abs=1e-12)
    a = dict(zip(got["per_tag"]["tag"], got["per_tag"]["alpha"]))
    assert set(a) == set(alpha)
    for t, v in alpha.items():
        assert a[t] == pytest.approx(v, abs=1e-12, nan_ok=True)


def _stats_oracle(store, bid, by, level, exclude):
    """Failure-mode counts the long way: consensus rows x target context, grouped in pandas."""
    from medviz.annotations import consensus
    from medviz.store import annotations as sqla
    c = consensus(store, bid)
    if exclude:
        c = c[~c["tags"].map(lambda ts: exclude in ts)]
    if level == "top":
        c = c.assign(tags=c["tags"].map(lambda ts: sorted({t.split("/", 1)[0] for t in ts})))
    ctx = sqla.target_context(store.cursor(), bid)
    c = c.merge(ctx, on=["benchmark_id", "target_type", "target_id"], how="left")
    for col in ("modality", "department", "task"):
        c[col] = c[col].fillna("(none)")
    c["categories"] = c["categories"].map(lambda v: list(v) if v is not None and len(v) else ["(none)"])
    c = c.assign(model=c["model_key"])
    if "category" in by:
        c = c.explode("categories").rename(columns={"categories": "category"})
    out = {}
    for key, g in c.groupby(list(by)) if by else [((), c)]:
        key = key if isinstance(key, tuple) else (key,)
        for ts in g["tags"]:
            for t in ts:
                out[key + (t,)] = out.get(key + (t,), 0) + 1
        out[key + ("__n__",)] = len(g)
    return out


@pytest.mark.parametrize("by,level,exclude", [(("modality", "model"), "tag", False), (("category",), "top", False),
                                              ((), "tag", True), (("department", "target_type"), "tag", False)])
def test_failure_mode_stats_match_the_long_way(demo, w, by, level, exclude):
    import random
    rng = random.Random(5)
    demo_w = get_writer(demo)
    tags = [DETAIL, "Refusal", "Visual confusion/Image ignored", DISPUTED]
    for i in range(80):
        t = rng.sample(tags, rng.randint(1, 2))
        kw = {"proposed_answer": "A"} if DISPUTED in t else {}
        save(demo_w, ann(target=f"s00{rng.randint(1, 8)}", tags=t, reviewer=rng.choice(["alice", "bob", "carol"]),
                        model=rng.choice([None, BLIND]), **kw))
    got = failure_mode_stats(demo, MC, by=by, level=level, exclude_disputed=exclude)
    want = _stats_oracle(demo, MC, by, level, DISPUTED if exclude else None)
    assert len(got) > 0
    for r in got.itertuples(index=False):
        key = tuple(getattr(r, b) for b in by)
        assert r.count == want.get(key + (r.tag,), 0), (key, r.tag)
        assert r.n == want[key + ("__n__",)]
    assert sum(v for k, v in want.items() if k[-1] != "__n__") == got["count"].sum()


# --- bootstrap intervals (issue 13) ---------------------------------------------------------------------------

def _simulated_codes(rng, n_units: int, s: float, pi: float = 0.4):
    """Two raters, each unit tagged T or N: a rater copies the latent truth with probability s, else draws
    from the same marginal. Population Cohen's kappa = s**2 (and alpha tends to the same value)."""
    import numpy as np
    import pandas as pd
    truth = rng.random(n_units) < pi
    J, P = [], []
    for r in (0, 1):
        copy = rng.random(n_units) < s
        x = np.where(copy, truth, rng.random(n_units) < pi)
        for u in range(n_units):
            tc = 0 if x[u] else 1
            J.append({"u": u, "r": r, "sig": str(1 << tc), "npos": 1})
            P.append({"u": u, "r": r, "t": "T" if tc == 0 else "N", "tc": tc})
    return pd.DataFrame(J), pd.DataFrame(P)


def test_bootstrap_intervals_cover_the_true_agreement_on_simulated_raters():
    import numpy as np
    from medviz.annotations.agreement import agreement_from_codes
    rng = np.random.default_rng(2024)
    true = 0.5
    reps, hit_k, hit_a, widths = 120, 0, 0, []
    for i in range(reps):
        J, P = _simulated_codes(rng, 150, math.sqrt(true))
        res = agreement_from_codes(J, P, ["a", "b"], ["T", "N"], draws=400, seed=i)
        k = res["cohen"].iloc[0]
        assert k.kappa_low <= k.kappa <= k.kappa_high and k.n_items == 150
        hit_k += k.kappa_low <= true <= k.kappa_high
        widths.append(k.kappa_high - k.kappa_low)
        a = res["per_tag"].set_index("tag").loc["T"]
        assert a.alpha_low <= a.alpha <= a.alpha_high
        hit_a += a.alpha_low <= true <= a.alpha_high
    # nominal 95%: with 120 replications a correct interval lands in [0.88, 0.99] with probability > 0.99
    assert 0.88 <= hit_k / reps <= 0.99, hit_k / reps
    assert 0.88 <= hit_a / reps <= 0.99, hit_a / reps
    # and the interval is not trivially wide: about 2 x 1.96 x SE(kappa) ~ 0.27 at n = 150
    assert 0.15 < float(np.mean(widths)) < 0.4


def test_agreement_intervals_and_filters_on_a_store(demo):
    from medviz.annotations.agreement import unit_keys
    w = get_writer(demo)
    for k, pid in enumerate(["s001", "s002", "s003", "s004", "s005", "s006"]):
        save(w, ann(pid, [IGNORED], "alice", model=BLIND))
        save(w, ann(pid, [IGNORED] if k % 3 else [DETAIL], "bob", model=BLIND))
    save(w, ann("s007", [DETAIL], "alice"))
    save(w, ann("s007", [DETAIL], "bob"))
    res = agreement(demo, MC)
    row = res["cohen"].iloc[0]
    assert row.n_items == 7 and row.kappa_low <= row.kappa <= row.kappa_high
    assert agreement(demo, MC)["cohen"].equals(res["cohen"])            # a fixed seed: the same interval
    only_blind = unit_keys(demo, MC, model=BLIND)
    assert len(only_blind) == 6
    assert agreement(demo, MC, units=only_blind)["cohen"].iloc[0].n_items == 6
    assert len(unit_keys(demo, MC, tag="Perceptual error")) == 3       # a tag group matches its sub-tags
    assert len(unit_keys(demo, MC, tag=DETAIL)) == 3
    mods = demo.cursor().execute("SELECT DISTINCT modality FROM items WHERE benchmark_id = ? AND pair_id = 's001'",
                                 [MC]).fetchall()
    keys = unit_keys(demo, MC, modality=mods[0][0])
    assert any("|s001|" in k for k in keys)
    assert agreement(demo, MC, units=set())["cohen"].empty


@pytest.mark.parametrize("n_reviewers", [1, 2])
def test_agreement_with_a_single_reviewer_or_target_reports_nothing_to_compare(store, w, n_reviewers):
    """One reviewer (or one reviewed unit) is a normal early state of a study: no pairs, no crash."""
    for r in ["alice", "bob"][:n_reviewers]:
        save(w, ann(target="p1", tags=[DETAIL], reviewer=r))
    save(w, ann(target="p2", tags=[DETAIL, "Refusal"], reviewer="alice"))
    got = agreement(store, MC)
    assert got["n_units"] == 2 and got["n_multi"] == (1 if n_reviewers == 2 else 0)
    if n_reviewers == 1:
        assert got["cohen"].empty
