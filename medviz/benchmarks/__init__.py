"""Benchmark loaders, one module per format, each registered by one line in ``medviz.registry``.

``load(path, images_dir)`` returns ``(items, pairs)`` (``medviz.item.Item``, ``medviz.pair.Pair``); a format
whose file carries its images (GMAI-MMBench's base64 column) streams items and hands each checked image to
the ingest's ``store.imagefiles.ImageSink`` (content-addressed; the row commit is the switch). A bad image
never raises: the item gets status ``missing``/``unreadable`` and a reason (``medviz.images``); other bad
input raises ``MedvizError`` naming file, record and field.
"""
