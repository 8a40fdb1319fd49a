"""Keeping the local working copy of an ``s3://`` dataset in step with the server.

``pull`` makes the working copy equal to the server's objects (downloading only what changed);
``publish_dataset`` and ``publish_captions`` put a finished local publication on the server in
the local publication's order, objects instead of renames (new shards, then the card last);
``push_tree`` uploads the originals after a fetch. Used by ``imudata.remote``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable

from .errors import ImudataError
from .storage import RemotePath, filesystem


def cache_root(root: RemotePath) -> Path:
    """Where the local working copy of a remote root lives: ``$IMUDATA_S3_CACHE/<bucket>/<prefix>``,
    default the user cache's ``imudata-s3`` folder."""
    env = os.environ.get("IMUDATA_S3_CACHE")
    if env:
        base = Path(env).expanduser()
    else:
        from .paths import user_cache

        base = user_cache() / "imudata-s3"
    return base / root.key


#: names in a working copy that are local state and never mirrored or deleted by a pull
_LOCAL_ONLY = (".lock", ".work")


def _local_only(rel: str) -> bool:
    first = rel.split("/", 1)[0]
    return first in _LOCAL_ONLY or ("/." in f"/{rel}" and ".tmp-" in rel)


def pull(remote: RemotePath, local: Path, *, skip: Iterable[str] = ()) -> int:
    """Make the local folder ``local`` a copy of everything under ``remote``; returns objects downloaded.

    An object whose size and modification time match the local file is not downloaded again;
    local files that are no longer on the server are removed (except local state: the lock, the
    staging folder ``.work``). Folders named in ``skip`` (relative, e.g. ``captions``) are left out.
    """
    fs = filesystem()
    fs.invalidate_cache()  # list what the server holds now, not what an earlier listing said
    skip = tuple(s.rstrip("/") + "/" for s in skip)
    found: dict[str, dict] = {}
    if fs.exists(remote.key):
        for key, info in fs.find(remote.key, detail=True).items():
            rel = key[len(remote.key) + 1:]
            if rel and not rel.startswith(skip) and info.get("type", "file") == "file":
                found[rel] = info
    got = 0
    for rel, info in sorted(found.items()):
        dest = local / rel
        mtime = _mtime(info)
        if dest.is_file() and dest.stat().st_size == int(info["size"]) and abs(dest.stat().st_mtime - mtime) < 1e-3:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        try:
            fs.get_file(info["name"], str(tmp))
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        got += 1
    if local.is_dir():
        for p in sorted(local.rglob("*"), reverse=True):
            rel = p.relative_to(local).as_posix()
            if _local_only(rel) or rel.startswith(skip) or (rel + "/").startswith(skip):
                continue
            if p.is_file() and rel not in found:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    return got


def _mtime(info: dict) -> float:
    value = info.get("LastModified") or info.get("mtime")
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return time.time() if value is None else float(value)


def _put(local: Path, remote: RemotePath) -> None:
    """Upload one file (one PUT: the object appears whole or not at all)."""
    try:
        filesystem().put_file(str(local), remote.key)
    except OSError as exc:
        raise ImudataError(f"{remote}: upload of {local} failed ({exc})") from exc


def _sizes(remote: RemotePath) -> dict[str, int]:
    """relative key -> size of every object under ``remote``, listed afresh."""
    fs = filesystem()
    fs.invalidate_cache()
    if not fs.exists(remote.key):
        return {}
    return {k[len(remote.key) + 1:]: int(i["size"]) for k, i in fs.find(remote.key, detail=True).items()}


def _remove(keys: list[str]) -> None:
    if keys:
        filesystem().rm(keys)


def publish_dataset(local_base: Path, remote_base: RemotePath) -> int:
    """Publish a local dataset folder's card to the server; returns the shards uploaded.

    The order is the local publication's, with objects instead of renames: every shard the card
    lists that the server lacks is uploaded first (shard names carry a fresh tag, so no card on
    the server lists them yet: until the card is replaced they are invisible to readers), then
    README.md, then ``dataset.json`` last (one PUT, the commit point). Only then are the objects
    under ``parquet/`` that the new card does not list deleted.
    """
    card = json.loads((local_base / "dataset.json").read_text(encoding="utf-8"))
    listed = [sh["path"] for sh in card["shards"]]
    have = _sizes(remote_base / "parquet")
    sent = 0
    for rel in listed:
        local = local_base / rel
        sub = rel.split("/", 1)[1]
        if have.get(sub) != local.stat().st_size:
            _put(local, remote_base / rel)
            sent += 1
    from .faults import fault_point

    fault_point("s3:after-shards")
    card_obj = remote_base / "dataset.json"
    if sent or not card_obj.exists() or card_obj.read_bytes() != (local_base / "dataset.json").read_bytes():
        if (local_base / "README.md").is_file():
            _put(local_base / "README.md", remote_base / "README.md")
        _put(local_base / "dataset.json", card_obj)
    fault_point("s3:after-card")
    keep = {rel.split("/", 1)[1] for rel in listed}
    _remove([(remote_base / "parquet" / k).key for k in have if k not in keep])
    return sent


def publish_captions(local_level: Path, remote_level: RemotePath, tag: str) -> None:
    """Publish one caption level folder: parts under fresh names, ``captions.json`` last, old parts removed.

    On object storage a folder cannot be swapped in one rename, so each part is uploaded as
    ``part-NNNNN-<tag>.parquet`` and the uploaded ``captions.json`` names those keys: a reader
    going through ``captions.json`` sees the old level or the new one, never a mix.
    """
    index = json.loads((local_level / "captions.json").read_text(encoding="utf-8"))
    for part in index["parts"]:
        stem = part["path"][: -len(".parquet")]
        name = f"{stem}-{tag}.parquet"
        _put(local_level / part["path"], remote_level / name)
        part["path"] = name
    old = _sizes(remote_level)
    tmp = local_level / f".captions.json.s3-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(index, indent=2, ensure_ascii=False), encoding="utf-8")
        _put(tmp, remote_level / "captions.json")
    finally:
        if tmp.exists():
            tmp.unlink()
    keep = {p["path"] for p in index["parts"]} | {"captions.json"}
    _remove([(remote_level / k).key for k in old if k not in keep])


def push_tree(local: Path, remote: RemotePath) -> int:
    """Upload every file under ``local`` that the server lacks or holds with another size; returns the count.

    For ``raw/`` after a fetch: the originals and ``sources.lock.json`` (uploaded last, so a lock
    on the server never names a file that is not there yet). Partial downloads are not uploaded.
    """
    have = _sizes(remote)
    files = sorted(p for p in local.rglob("*") if p.is_file() and not p.name.endswith((".part", ".part.json"))
                   and not _local_only(p.relative_to(local).as_posix()))
    files.sort(key=lambda p: p.name == "sources.lock.json")
    sent = 0
    for p in files:
        rel = p.relative_to(local).as_posix()
        if have.get(rel) != p.stat().st_size or p.name == "sources.lock.json":
            _put(p, remote / rel)
            sent += 1
    return sent
