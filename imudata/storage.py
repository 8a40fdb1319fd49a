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
(``imudata.remote``), kept in step with the server by ``imudata.s3sync``.
"""
from __future__ import annotations

import os
from typing import IO, Any

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
    """The s3fs filesystem for the current settings (one per process and settings: an instance made
    before a fork, e.g. of DataLoader workers, is not used after it)."""
    key = (os.getpid(), endpoint(), region(), os.environ.get("AWS_ACCESS_KEY_ID"))
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
    def _fs(self) -> Any:
        """The filesystem with its listing cache of this key dropped: another process may have
        written since (the server is the truth, not a listing read earlier)."""
        fs = filesystem()
        fs.invalidate_cache(self.key)
        return fs

    def exists(self) -> bool:
        return bool(self._fs().exists(self.key))

    def is_file(self) -> bool:
        return bool(self._fs().isfile(self.key))

    def is_dir(self) -> bool:
        return bool(self._fs().isdir(self.key))

    def read_bytes(self) -> bytes:
        return bytes(filesystem().cat_file(self.key))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ImudataError(f"{self}: objects are written by publishing, not opened with mode {mode!r}")
        return filesystem().open(self.key, "rb")

    def iterdir(self) -> list[RemotePath]:
        fs = self._fs()
        return [RemotePath(k) for k in fs.ls(self.key, detail=False)] if fs.exists(self.key) else []

    def stat(self) -> os.stat_result:
        size = int(self._fs().info(self.key)["size"])
        return os.stat_result((0, 0, 0, 0, 0, 0, size, 0, 0, 0))


def parquet_filesystem(path: object) -> Any:
    """The filesystem argument for pyarrow readers: s3fs for a :class:`RemotePath`, None for a local file."""
    return filesystem() if isinstance(path, RemotePath) else None


def arrow_path(path: object) -> str:
    """The path pyarrow takes together with :func:`parquet_filesystem` (the key for a remote object)."""
    return path.key if isinstance(path, RemotePath) else str(path)
