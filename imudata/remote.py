"""Writing to an ``s3://`` root: the local code path on a working copy, then publication to the server.

A command on an object-storage root (fetch, convert, bands, resample, caption, verify) holds the
lock of a local working copy of the dataset (``s3sync.cache_root``), makes that copy equal to
the server's objects (``s3sync.pull``: only what changed is downloaded), runs the very same code
as on a local root, and publishes the result with the publication order of a local root
(``s3sync.publish_dataset``: new shards, then the card last; ``s3sync.publish_captions``:
parts, then ``captions.json`` last). So results are byte-identical to a local root's, a run
killed at any point leaves the server's dataset as it was or complete, and a re-run finishes
the job (the staging folder ``.work`` of a conversion survives on the working copy).

The lock is the working copy's, so two commands on one machine never write the same dataset;
two machines writing the same dataset at once are not prevented (S3 has no lock): run writers
from one place (the Ray driver), as docs/scale.md says.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

from . import registry
from .locking import dataset_lock
from .paths import DatasetPaths
from .s3sync import cache_root, publish_captions, publish_dataset, pull, push_tree
from .storage import RemotePath

T = TypeVar("T")

#: folders of a dataset that a derivation does not read
_NOT_FOR_DERIVE = ("raw", "captions")


def relabel(log: Callable[[str], None] | None, local_root: Path, root: RemotePath) -> Callable[[str], None]:
    """``log`` with the working copy's folder written as the ``s3://`` root in every message, so
    that messages name the place readers use."""
    import sys

    say = log or (lambda msg: print(msg, file=sys.stderr))
    return lambda msg: say(msg.replace(str(local_root), str(root)))


def _copy(name: str, root: RemotePath) -> tuple[Path, DatasetPaths, RemotePath]:
    dataset_id = registry.get(name).id
    local_root = cache_root(root)
    return local_root, DatasetPaths(local_root, dataset_id), root / dataset_id


def fetch_remote(name: str, root: RemotePath, fetch: Callable[[Path], T], *, convert: bool) -> T:
    """Fetch into the working copy, upload ``raw/`` (originals and their lock), publish the conversion."""
    local_root, paths, rbase = _copy(name, root)
    with dataset_lock(paths, "fetch"):
        pull(rbase, paths.base, skip=("captions",))
        out = fetch(local_root)
        push_tree(paths.raw, rbase / "raw")
        if convert and paths.card.exists():
            publish_dataset(paths.base, rbase)
    return out


def convert_remote(name: str, root: RemotePath, **kwargs: Any) -> Any:
    """``convert`` on the working copy of ``root``, then publish shards and card to the server."""
    from .convert import convert

    local_root, paths, rbase = _copy(name, root)
    with dataset_lock(paths, "convert"):
        pull(rbase, paths.base, skip=("captions",))
        kwargs["log"] = relabel(kwargs.get("log"), local_root, root)
        card = convert(name, local_root, **kwargs)
        publish_dataset(paths.base, rbase)
    return card


def on_working_copy(name: str, root: str | RemotePath | None, work: Callable[[Path], T]) -> T:
    """Run a derivation ``work(local_root)`` on the working copy of ``root``, then publish its card."""
    from .paths import resolve_root

    remote = resolve_root(root)
    assert isinstance(remote, RemotePath)
    local_root, paths, rbase = _copy(name, remote)
    with dataset_lock(paths, "derive"):
        pull(rbase, paths.base, skip=_NOT_FOR_DERIVE)
        out = work(local_root)
        publish_dataset(paths.base, rbase)
    return out


def caption_remote(name: str, root: RemotePath, work: Callable[[Path], dict[str, Path]]) -> dict[str, Any]:
    """Caption on the working copy, then publish each level (parts first, ``captions.json`` last)."""
    from .publish import new_tag

    local_root, paths, rbase = _copy(name, root)
    out: dict[str, Any] = {}
    with dataset_lock(paths, "caption"):
        pull(rbase, paths.base, skip=_NOT_FOR_DERIVE)
        for level, folder in work(local_root).items():
            dest = rbase / "captions" / folder.name
            publish_captions(folder, dest, new_tag())
            out[level] = dest
    return out


def working_copy_for_verify(name: str, root: RemotePath) -> Path:
    """Make the working copy equal to everything the server holds for the dataset (raw files,
    shards, stray objects) and return its root, for ``verify`` to check it as a local root."""
    local_root, paths, rbase = _copy(name, root)
    with dataset_lock(paths, "verify"):
        pull(rbase, paths.base, skip=("captions",))
    return local_root
