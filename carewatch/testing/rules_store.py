"""The rules worker's tables in faust's RocksDB files (``rocksdb://``), read and written without a worker: for
tests and the bench that need a store as a worker (of this release or the previous one) would have left it.

:func:`previous_value` is a child's stored value as the previous release wrote it (a JSON object around a
format-5 state, no trailer); :func:`table_stores` gives the children and clocks tables' stores (their partition
paths and key and value encodings) for a data directory; :func:`read_children` and :func:`rewrite_children`
read and replace the stored children of a stopped worker's files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from carewatch.settings import Settings
from services.rules.core import codec
from services.rules.core.state import ChildState, wake_at
from services.rules.stream.app import CHILDREN_TABLE, CLOCKS_TABLE, build_app


def previous_value(state: ChildState, partition: int) -> bytes:
    """The children table's value for ``state`` as the previous release stored it: the object ``{"state": the
    format-5 state, "wake", "catalogue", "partition"}`` through faust's JSON serializer, that table's default
    then (what this release still reads, in full)."""
    from faust.serializers import codecs

    wake = wake_at(state)
    envelope = {
        "state": [5, *codec.encode(state)[1:17]],
        "wake": wake.isoformat() if wake else None,
        "catalogue": state.catalogue,
        "partition": partition,
    }
    return codecs.dumps("json", envelope)


def table_stores(data: Path, partitions: int) -> tuple[Any, Any]:
    """The children and clocks tables' rocksdb:// stores of a worker whose data directory is ``data``."""
    app = build_app(Settings(kafka_bootstrap="127.0.0.1:9", data_dir=data, topic_partitions=partitions),
                    store="rocksdb://")  # fmt: skip
    return app.tables[CHILDREN_TABLE].data, app.tables[CLOCKS_TABLE].data


def read_children(data: Path, partitions: int) -> dict[str, tuple[int, bytes]]:
    """Every child in a stopped rocksdb:// worker's files under ``data``: child id -> (partition, stored bytes)."""
    return _children(data, partitions, None)


def rewrite_children(data: Path, partitions: int, rewrite: Callable[[str, int, bytes], bytes]) -> int:
    """Replace each stored child's value in a stopped worker's files by ``rewrite(child_id, partition, value)``
    (the persisted changelog offsets are kept, so a restarted worker reads none of it again from the
    changelog); returns the children rewritten."""
    return len(_children(data, partitions, rewrite))


def stored_values(data: Path, partitions: int, child_ids: set[str]) -> dict[str, bytes]:
    """The stored values of ``child_ids`` in a stopped worker's files (the others left unread)."""
    found = {}
    for children, _, db in _partition_stores(data, partitions):
        for child_id in child_ids:
            value = db.get(children._encode_key(child_id))
            if value is not None:
                found[child_id] = bytes(value)
    return found


def _children(
    data: Path, partitions: int, rewrite: Callable[[str, int, bytes], bytes] | None
) -> dict[str, tuple[int, bytes]]:
    found: dict[str, tuple[int, bytes]] = {}
    for children, partition, db in _partition_stores(data, partitions):
        for key, value in list(db.items()):
            if key == children.offset_key:
                continue
            child_id = children._decode_key(key)
            if rewrite is not None:
                value = rewrite(child_id, partition, value)
                db.put(key, value)
            found[child_id] = (partition, value)
        db.flush()
    return found


def _partition_stores(data: Path, partitions: int) -> Iterator[tuple[Any, int, Any]]:
    """(the children table's store, partition, its open RocksDB) for each partition with files, closed after."""
    from faust.stores.rocksdb import RocksDBOptions

    children, _ = table_stores(data, partitions)
    options = RocksDBOptions()
    for partition in range(partitions):
        path = children.partition_path(partition)
        if not path.exists():
            continue
        db = options.open(path)
        try:
            yield children, partition, db
        finally:
            db.close()
