"""Benchmark loaders, one module per format, each registered by one line in ``medviz.registry``.

``load(path, images_dir)`` returns ``(items, pairs)`` (``medviz.item.Item``, ``medviz.pair.Pair``); a format
whose file carries its images (GMAI-MMBench's base64 column) streams items and writes images to a folder the
ingest moves into place after the commit. Bad input raises ``MedvizError`` naming file, record and field.
"""
