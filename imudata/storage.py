"""Data roots on S3-compatible object storage: ``--root s3://bucket/prefix`` (or ``$IMUDATA_HOME``).

The client is ``s3fs`` (fsspec, botocore underneath): it speaks to AWS, MinIO, Ceph and the
``moto`` test server alike, and every reader here (pyarrow, polars) accepts it or the same
settings. (``pyarrow.fs.S3FileSystem`` reads fine but writes every object as a multipart upload,
which S3-compatible servers such as moto reject; one client for reads and writes is simpler.)

Settings come from the usual AWS variables: credentials from the botocore chain
(``AWS_ACCESS_KEY_ID`` ..., ``~/.aws``), the server from ``$AWS_ENDPOINT_URL`` (or
``$IMUDATA_S3_ENDPOINT``) when it is not AWS itself, the region from ``$AWS_DEFAULT_REGION``.

``RemotePath`` is the small part of ``pathlib.Path`` that readers of a data root use (``/``,
``name``, ``parent``, ``exists``, ``read_text``, ``open``), so ``DatasetPaths``, ``load_card``
and ``imudata.open`` work on either kind of root. Writers work on a local copy of the dataset
(``imudata.remote``) and publish it with :func:`publish_dataset` / :func:`publish_captions`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any, Iterable

from .errors import ImudataError

SCHEME = "s3://"


def _url(root: object) -> str | None:
    """The ``s3://`` URL of ``root``, or None. A ``Path`` made from the URL (``s3:/bucket/...``,
    as a command-line option typed as a path arrives) counts too."""
    if isinstance(root, RemotePath):
        return str(root)
    if isinstance(root, (str, os.PathLike)):
        text = os.fspath(root)
        if isinstance(text, str):
            if text.startswith(SCHEME):
                return text
            if text.startswith("s3:/"):
                return SCHEME + text[len("s3:/"):]
    return None


def is_remote(root: object) -> bool:
    """True for an object-storage root (``s3://...`` string or path, or a :class:`RemotePath`)."""
    return _url(root) is not None


def endpoint() -> str | None:
    """The S3 server's URL, when it is not AWS (``$IMUDATA_S3_ENDPOINT`` else ``$AWS_ENDPOINT_URL``)."""
    return os.environ.get("IMUDATA_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


def region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


_FS: dict[tuple, Any] = {}


def filesystem() -> Any:
    """The s3fs filesystem for the current settings (one per process and settings)."""
    key = (endpoint(), region(), os.environ.get("AWS_ACCESS_KEY_ID"))
    fs = _FS.get(key)
    if fs is None:
        try:
            import s3fs
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImudataError("an s3:// root needs s3fs: pip install 'imudata[s3]'") from exc
        kwargs: dict[str, Any] = {"client_kwargs": {"region_name": region()}}
        if endpoint():
            kwargs["endpoint_url"] = endpoint()
        fs = s3fs.S3FileSystem(**kwargs)
        _FS[key] = fs
    return fs


def storage_options() -> dict[str, str]:
    """The same settings for polars' own object-store reader (``pl.scan_parquet(..., storage_options=)``)."""
    opts = {"aws_region": region()}
    if endpoint():
        opts["aws_endpoint_url"] = endpoint()
        if endpoint().startswith("http://"):
            opts["aws_allow_http"] = "true"
    for env, key in (("AWS_ACCESS_KEY_ID", "aws_access_key_id"), ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
                     ("AWS_SESSION_TOKEN", "aws_session_token")):
        if os.environ.get(env):
            opts[key] = os.environ[env]
    return opts


class RemotePath:
    """An object key (or key prefix) under ``s3://``: joins with ``/`` and reads like a ``Path``."""

    __slots__ = ("key",)

    def __init__(self, url: str | RemotePath) -> None:
        text = url.key if isinstance(url, RemotePath) else (_url(url) or str(url))
        if text.startswith(SCHEME):
            text = text[len(SCHEME):]
        parts = [p for p in text.split("/") if p]
        if not parts:
            raise ImudataError(f"{url!r}: an s3 root needs a bucket (s3://bucket/prefix)")
        if any(p in (".", "..") for p in parts):
            raise ImudataError(f"{url!r}: '.' and '..' are not allowed in an s3 root")
        self.key = "/".join(parts)

    # --- pure path operations
    def __truediv__(self, other: str | os.PathLike[str]) -> RemotePath:
        return RemotePath(f"{self.key}/{os.fspath(other)}")

    def __str__(self) -> str:
        return SCHEME + self.key

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.key.rsplit("/", 1)[0]) if "/" in self.key else self

    @property
    def bucket(self) -> str:
        return self.key.split("/", 1)[0]

    def relative_to(self, other: RemotePath) -> str:
        if not self.key.startswith(other.key + "/"):
            raise ValueError(f"{self} is not below {other}")
        return self.key[len(other.key) + 1:]

    def expanduser(self) -> RemotePath:
        return self

    # --- reads
    def exists(self) -> bool:
        return bool(filesystem().exists(self.key))

    def is_file(self) -> bool:
        return bool(filesystem().isfile(self.key))

    def is_dir(self) -> bool:
        return bool(filesystem().isdir(self.key))

    def read_bytes(self) -> bytes:
        return bytes(filesystem().cat_file(self.key))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ImudataError(f"{self}: objects are written by publishing, not opened with mode {mode!r}")
        return filesystem().open(self.key, "rb")

    def iterdir(self) -> list[RemotePath]:
        fs = filesystem()
        return [RemotePath(k) for k in fs.ls(self.key, detail=False)] if fs.exists(self.key) else []

    def stat(self) -> os.stat_result:
        size = int(filesystem().info(self.key)["size"])
        return os.stat_result((0, 0, 0, 0, 0, 0, size, 0, 0, 0))


def parquet_filesystem(path: object) -> Any:
    """The filesystem argument for pyarrow readers: s3fs for a :class:`RemotePath`, None for a local file."""
    return filesystem() if isinstance(path, RemotePath) else None


def arrow_path(path: object) -> str:
    """The path pyarrow takes together with :func:`parquet_filesystem` (the key for a remote object)."""
    return path.key if isinstance(path, RemotePath) else str(path)


# --------------------------------------------------------------------------------------------
# the local working copy of a remote dataset

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
    fs = filesystem()
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
