"""``medviz`` command line: one module per group of sub-commands, each with ``register(subparsers)``.

- ``_common``: the shared ``--db`` option, store opening, progress bar, formatting, error printing
- ``score``: ``medviz score mediconfusion|gmai …`` (files, no store) and ``medviz scores`` (stored models)
- ``ingest``: ``medviz ingest``, ``medviz predictions import``, ``medviz list``, ``medviz demo``
- ``encoders``: ``medviz embed``, ``medviz explain``, ``medviz models list|check|prepare``
- ``annotations``: ``medviz export annotations``, ``medviz import annotations``
- ``tokens``: ``medviz tokens create|list|revoke``
- ``serve``: ``medviz serve`` (app + REST API + jobs in one process)
- ``remote``: the remote twin of each command that reads or writes the store, used when a server owns it
  (``--server``/``MEDVIZ_SERVER``, or ``<db>.server.json`` names a running server)

Thin: parse arguments, call medviz modules, print. Sub-command modules import helpers from ``_common``
only, never from this module.
"""
# No ``from __future__ import annotations`` here: it would bind the name ``annotations`` in this package and
# shadow the ``annotations`` sub-command module.
import argparse

from . import annotations, encoders, ingest, score, serve, tokens
from ._common import run

COMMAND_MODULES = (score, ingest, encoders, annotations, tokens, serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medviz", description="Why do multimodal models get medical images wrong?")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))
