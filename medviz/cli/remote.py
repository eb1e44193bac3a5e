"""The CLI's remote mode: when a medviz server owns the store, commands go through its API.

A server is used when ``--server URL`` or ``MEDVIZ_SERVER`` is set, or when the database's
``<db>.server.json`` names a running ``medviz serve`` (so nobody has to stop the app to import a run).
The token comes from ``MEDVIZ_TOKEN``; in local mode the author of writes is ``MEDVIZ_USER`` (default: the
login name). Each ``run_*`` function is the remote twin of a CLI command and prints what it prints.
"""
from __future__ import annotations

import functools
import json
import os
import sys

from ..errors import MedvizError
from ._common import fmt_pct, progress_bar


def server_url(args) -> tuple[str | None, bool]:
    """The server to talk to for this command (None: open the file), and whether it runs on this machine
    (found through the database's server file: then files are named by path instead of uploaded)."""
    url = getattr(args, "server", None) or os.environ.get("MEDVIZ_SERVER")
    if url:
        return url, False
    from ..server import running_server
    from ..store.db import default_db_path
    url = running_server(getattr(args, "db", None) or default_db_path())
    return url, url is not None


def through_server(runner: str):
    """Decorator for a CLI command: when a server should be used, run this module's ``runner(client, args)``
    (the command's remote twin) instead of the command's own body, which opens the file."""
    def decorate(local):
        @functools.wraps(local)
        def command(args) -> int:
            client = client_for(args)
            if client is not None:
                return globals()[runner](client, args)
            return local(args)
        return command
    return decorate


def client_for(args):
    """A ``Client`` when a server should be used (see the module doc), else None."""
    url, same_machine = server_url(args)
    if not url:
        return None
    from ..client import Client
    user = os.environ.get("MEDVIZ_USER")
    if not user and not os.environ.get("MEDVIZ_TOKEN"):
        import getpass
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name here
            user = "cli"
    client = Client(url, os.environ.get("MEDVIZ_TOKEN"), user=user)
    client.same_machine = same_machine
    return client


def _wait(client, job: dict, desc: str) -> dict:
    bar = progress_bar(f"{desc} (job {job['job_id']})", unit="it")
    try:
        return client.wait(job["job_id"], progress=bar)
    finally:
        bar.close()


# --- the commands ----------------------------------------------------------------------------------------

def run_ingest(client, args) -> int:
    local = os.path.exists(args.path)
    if not local:
        raise MedvizError("file not found", file=args.path)
    local_mode = "Authorization" not in client.session.headers
    if args.images or (getattr(client, "same_machine", False) and local_mode):
        # the server reads the file (and its images) where they are: same machine in local mode, or an
        # images folder that must be readable by the server anyway (naming server paths: admins)
        job = client.ingest(os.path.abspath(args.path), upload=False, kind=args.kind, benchmark_id=args.id,
                            images_dir=os.path.abspath(args.images) if args.images else None, wait=False)
    else:
        job = client.ingest(args.path, kind=args.kind, benchmark_id=args.id, wait=False)
    res = _wait(client, job, "ingest")["result"]
    print(f"loaded benchmark '{res['benchmark_id']}' ({res['kind']}): {res['items']} items, {res['pairs']} pairs, "
          f"{res['images_missing']} images missing -> {client.url}")
    return 0


def run_predictions_import(client, args) -> int:
    if args.result and len(args.paths) != 1:
        raise MedvizError("--result belongs to one prediction file; import one file with its judged result",
                          field="--result")
    if args.result and not os.path.exists(args.result):
        raise MedvizError("file not found", file=args.result, field="--result")
    for path in args.paths:
        job = client.import_predictions(args.benchmark, path, model=args.model, format=args.format,
                                        synthetic=args.synthetic, tr=getattr(args, "tr", None),
                                        result=args.result, wait=False)
        res = _wait(client, job, "import")["result"]
        for m, n in res["models"].items():
            print(f"{m}: {n} predictions imported from {path} -> {client.url}")
    return 0


def run_scores(client, args) -> int:
    res = client.scores(args.benchmark, args.model)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    from .score import print_scores
    nan = float("nan")
    print_scores({model: {k: (nan if v is None else v) for k, v in m.items()} for model, m in res.items()})
    return 0


def run_list(client, args) -> int:
    for _, b in client.benchmarks().iterrows():
        print(f"{b.benchmark_id} ({b.kind}): {b.n_items} items, {b.n_pairs} pairs")
        for _, m in client.models(b.benchmark_id).iterrows():
            tag = " [synthetic]" if m.synthetic else ""
            print(f"    {m.model}{tag}: {m.n_predictions} predictions")
    return 0


def run_embed(client, args) -> int:
    """On the server (``--images`` absent), or here from a local copy of the images (``--images DIR``)."""
    if getattr(args, "images", None):
        from ..client import push_embeddings
        bar = progress_bar(f"embed {args.encoder} here, push to {client.url}", "img")
        try:
            res = push_embeddings(client, args.benchmark, args.images, args.encoder, device=args.device,
                                  batch_size=args.batch_size, progress=bar,
                                  exact_decode=getattr(args, "exact_decode", False) or None)
        finally:
            bar.close()
        print(f"{res['encoder_id']} [{res['weights_digest'][:24]}]: {res['missing_on_server']} images lacked "
              f"vectors on the server, {res['found_here']} found under {args.images}, {res['added']} added, "
              f"{res['failed']} failed")
        return 0
    job = client.embed(args.benchmark, args.encoder, device=args.device, batch_size=args.batch_size,
                       probe=bool(getattr(args, "probe", False)),
                       exact_decode=bool(getattr(args, "exact_decode", False)), wait=False)
    res = _wait(client, job, f"embed {args.encoder}")
    for line in res["log"]:
        print(line.split(" ", 1)[-1])
    return 0


def run_export_annotations(client, args) -> int:
    if args.format == "parquet" or args.out.lower().endswith(".parquet"):
        job = client.export(args.benchmark, fmt="parquet", wait=False) if args.benchmark else None
        if job is None:
            raise MedvizError("exporting through a server needs --benchmark", field="--benchmark")
        _wait(client, job, "export")
        data = client.download(job["job_id"])
    else:
        if not args.benchmark:
            raise MedvizError("exporting through a server needs --benchmark", field="--benchmark")
        data = client.annotations_csv(args.benchmark)
    tmp = args.out + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    print(f"exported current annotations -> {os.path.abspath(args.out)} (from {client.url})")
    return 0


def run_tokens(client, args) -> int:
    if args.tokens_command == "create":
        t = client.create_token(args.user, args.role)
        print(t["token"])
        print(f"token {t['token_id']} for {t['user']} ({t['role']}); shown once, stored hashed", file=sys.stderr)
    elif args.tokens_command == "list":
        df = client.tokens()
        print(df.to_string(index=False) if len(df) else "no tokens")
    else:
        client.revoke_token(args.token_id)
        print(f"revoked token {args.token_id}")
    return 0


def run_import_annotations(client, args) -> int:
    res = client.import_annotations(args.path)
    print(f"imported {res['imported']} annotation(s) from {args.path} -> {client.url} (as {res['imported_by']})")
    return 0
