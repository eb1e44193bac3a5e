"""Issue 11, "crash-safe, leak-free ingest": content-addressed images, the row COMMIT as the only switch,
staging cleaned on the next open, relative paths, SHA-256 verified on display.

Before: a crash after the image folder was swapped but before COMMIT left the old items showing the new
bytes; a killed ingest left a `.staging-*` folder no later ingest removed; GMAI indices `a b` and `a_b`
were written to the same file; paths were absolute, so a moved database lost its images."""
import base64
import hashlib
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from medviz import image_load
from medviz.ingest import ingest_benchmark
from medviz.store import Store, imagefiles

from .conftest import ROOT, png

STEPS = ("stage", "publish", "commit")


def _tsv(tmp_path, sample_files, color: str, name: str) -> str:
    """The sample GMAI TSV with every image replaced by a distinct solid-colour PNG (shade = row)."""
    df = pd.read_csv(sample_files["gmai_tsv"], sep="\t", dtype=str, keep_default_na=False)
    base = {"red": (200, 0, 0), "blue": (0, 0, 200)}[color]
    df["image"] = [base64.b64encode(png(color=(base[0], i * 20, base[2]))).decode() for i in range(len(df))]
    p = tmp_path / name
    df.to_csv(p, sep="\t", index=False)
    return str(p)


def _state(store) -> tuple[dict, set, list]:
    """(item -> sha256 of the bytes its path shows now, files under images/, staging folders)."""
    cur = store.cursor()
    shown = {}
    for item_id, path, sha in cur.execute("SELECT item_id, image_path, image_sha256 FROM items "
                                          "WHERE benchmark_id = 'g' ORDER BY item_id").fetchall():
        with open(store.image_file(path), "rb") as f:
            shown[item_id] = hashlib.sha256(f.read()).hexdigest()
        assert shown[item_id] == sha, "a row points at bytes other than the ones it recorded"
    base = os.path.join(store.files_dir, "images")
    files, staging = set(), []
    for name in os.listdir(base):
        if name.startswith(imagefiles.STAGING_PREFIX):
            staging.append(name)
            continue
        for dirpath, _, names in os.walk(os.path.join(base, name)):
            files |= {os.path.relpath(os.path.join(dirpath, n), store.files_dir) for n in names}
    return shown, files, staging


def _referenced(store) -> set:
    return {r[0] for r in store.cursor().execute("SELECT DISTINCT image_path FROM items "
                                                 "WHERE image_path IS NOT NULL").fetchall()}


@pytest.fixture
def old_store(tmp_path, sample_files):
    """A store holding benchmark 'g' with red images, and a second TSV with blue ones to re-ingest."""
    db = str(tmp_path / "db" / "t.duckdb")
    with Store(db) as s:
        ingest_benchmark(s, _tsv(tmp_path, sample_files, "red", "red.tsv"), kind="gmai", benchmark_id="g")
        old, files, _ = _state(s)
    return db, old, files, _tsv(tmp_path, sample_files, "blue", "blue.tsv")


def _inject(monkeypatch, step: str, exc: BaseException):
    if step == "stage":
        orig, calls = imagefiles.ImageSink.put, []

        def put(self, *a):
            calls.append(1)
            if len(calls) == 3:
                raise exc
            return orig(self, *a)
        monkeypatch.setattr(imagefiles.ImageSink, "put", put)
    elif step == "publish":
        orig = imagefiles.ImageSink.publish

        def publish(self):
            orig(self)
            raise exc                      # new files in place, rows not committed yet
        monkeypatch.setattr(imagefiles.ImageSink, "publish", publish)
    else:
        def finish(self, cur):
            raise exc                      # rows committed, cleanup not run
        monkeypatch.setattr(imagefiles.ImageSink, "finish", finish)


@pytest.mark.parametrize("step", STEPS)
def test_an_exception_at_each_step_keeps_old_items_on_old_bytes_and_leaves_nothing(old_store, monkeypatch, step):
    db, old, old_files, blue = old_store
    with Store(db) as s:
        _inject(monkeypatch, step, RuntimeError(f"injected at {step}"))
        with pytest.raises(RuntimeError, match="injected"):
            ingest_benchmark(s, blue, kind="gmai", benchmark_id="g")
        monkeypatch.undo()
    with Store(db) as s:                    # the next open cleans what the failed ingest could not
        shown, files, staging = _state(s)
        assert staging == []
        assert files == _referenced(s), "files left that no row references"
        if step == "commit":
            assert set(shown.values()).isdisjoint(old.values())    # committed: the new images, old ones gone
            assert files.isdisjoint(old_files)
        else:
            assert shown == old and files == old_files


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_each_step_is_recovered_on_the_next_open(old_store, step):
    """``kill -9`` at each step (os._exit in a child process): no finally, no cleanup, then reopen."""
    db, old, old_files, blue = old_store
    code = f"""
import os
from medviz.ingest import ingest_benchmark
from medviz.store import Store, imagefiles
step = {step!r}
if step == "stage":
    orig, calls = imagefiles.ImageSink.put, []
    def put(self, *a):
        calls.append(1)
        if len(calls) == 3:
            os._exit(137)
        return orig(self, *a)
    imagefiles.ImageSink.put = put
elif step == "publish":
    orig = imagefiles.ImageSink.publish
    def publish(self):
        orig(self)
        os._exit(137)
    imagefiles.ImageSink.publish = publish
else:
    imagefiles.ImageSink.finish = lambda self, cur: os._exit(137)
s = Store({db!r})
ingest_benchmark(s, {blue!r}, kind="gmai", benchmark_id="g")
"""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 137, out.stderr[-2000:]
    assert [n for n in os.listdir(os.path.join(os.path.dirname(db), "t_files", "images"))
            if n.startswith(imagefiles.STAGING_PREFIX)], "the kill should have left a staging folder"
    with Store(db) as s:
        shown, files, staging = _state(s)
        assert staging == [] and files == _referenced(s)
        if step == "commit":
            assert set(shown.values()).isdisjoint(old.values()) and files.isdisjoint(old_files)
        else:
            assert shown == old and files == old_files


def test_a_stale_staging_folder_without_journal_is_removed_on_open(tmp_path):
    db = str(tmp_path / "t.duckdb")
    stale = tmp_path / "t_files" / "images" / ".staging-0123abcd"
    stale.mkdir(parents=True)
    (stale / "1.png").write_bytes(png())            # what the old layout left behind
    Store(db).close()
    assert not stale.exists()


def test_gmai_indices_mapping_to_the_same_old_file_name_keep_their_own_images(store, tmp_path, sample_files):
    df = pd.read_csv(sample_files["gmai_tsv"], sep="\t", dtype=str, keep_default_na=False).head(2).copy()
    df["index"] = ["a b", "a_b"]
    df["image"] = [base64.b64encode(png(color=c)).decode() for c in ("red", "blue")]
    p = tmp_path / "ab.tsv"
    df.to_csv(p, sep="\t", index=False)
    ingest_benchmark(store, str(p), kind="gmai", benchmark_id="ab")
    rows = dict(((i, (path, sha)) for i, path, sha in store.cursor().execute(
        "SELECT item_id, image_path, image_sha256 FROM items WHERE benchmark_id = 'ab'").fetchall()))
    assert rows["a b"][0] != rows["a_b"][0]
    for item_id, colour in (("a b", (255, 0, 0)), ("a_b", (0, 0, 255))):
        path, sha = rows[item_id]
        assert path == f"images/{sha[:2]}/{sha}.png"
        assert image_load.load_image(store.image_file(path)).getpixel((0, 0)) == colour


def test_a_database_moved_with_its_files_folder_still_shows_its_images(tmp_path, sample_files):
    from medviz.thumbnails import cached_image_bytes
    a = tmp_path / "a"
    with Store(str(a / "t.duckdb")) as s:
        ingest_benchmark(s, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    shutil.move(str(a), str(tmp_path / "b"))
    with Store(str(tmp_path / "b" / "t.duckdb")) as s:
        paths = [r[0] for r in s.cursor().execute("SELECT image_path FROM items").fetchall()]
        assert all(not os.path.isabs(p) for p in paths)
        assert cached_image_bytes(s, paths[0], size=32)[:2] == b"\xff\xd8"


def test_display_verifies_the_sha256_recorded_at_ingest(store, sample_files):
    from medviz.errors import MedvizError
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    path, sha = store.cursor().execute("SELECT image_path, image_sha256 FROM items LIMIT 1").fetchone()
    full = store.image_file(path)
    image_load.load_image(full)                                  # fine as ingested
    with open(full, "wb") as f:
        f.write(png(color="green"))                          # a valid image, but not the one recorded
    with pytest.raises(MedvizError, match="does not match the SHA-256"):
        image_load.load_image(full)
    from medviz import display
    with pytest.raises(MedvizError, match="does not match the SHA-256"):
        display.decode(full)                                 # the Review viewer's decoder
    other = store.image_file(path) + ".copy.png"
    shutil.copy(full, other)
    with pytest.raises(MedvizError, match="does not match the SHA-256"):
        image_load.load_image(other, expected_sha256=sha)


def test_reingest_deletes_images_no_row_uses_any_more(old_store):
    db, old, old_files, blue = old_store
    with Store(db) as s:
        ingest_benchmark(s, blue, kind="gmai", benchmark_id="g")
        shown, files, staging = _state(s)
        assert staging == [] and files == _referenced(s) and files.isdisjoint(old_files)
