"""Manifest-driven streaming loader: a deterministic sample-level plan, split by rank and worker.

Training (``mode`` pretrain/align) draws an endless stream of global batches:

1. Windows are grouped into *buckets*, one per manifest dataset, so a batch holds one channel
   layout (channel-count bucketing: no channel padding inside a batch).
2. Each bucket has an endless sequence of epochs, each a permutation of the bucket's windows by a
   *block shuffle*: consecutive windows of a shard form blocks (read together, so row groups are
   decoded once), blocks are shuffled, then windows are shuffled inside a buffer of
   ``shuffle_blocks`` blocks.
3. Step ``s`` picks a bucket (seeded; P(dataset) = weight / sum of weights, the manifest's rule)
   and takes the next ``batch_size * world_size`` windows of that bucket's sequence: the *global
   batch*.
4. Rank ``r`` takes slice ``r`` of the global batch; DataLoader worker ``w`` of ``W`` produces the
   steps with ``s % W == w``; the DataLoader hands them back in step order.

So every rank gets the same number of equal-sized batches (no DDP hang), every worker has work
(no idle workers, whatever the shard count), and within each epoch of a bucket no window is
skipped or repeated: ranks and workers take disjoint slices of one sequence. The whole plan is a
function of (seed, step): resuming at step k replays exactly what an uninterrupted run would
have read, with any number of workers. (Contrast: Hugging Face streaming hands whole shards to
workers and silently falls back to example skipping when shards don't divide evenly.)

Evaluation (``mode="eval"``) is a finite exact partition: windows in index order, cut into
batches per bucket, batch ``j`` to rank ``j % world_size`` and worker ``(j // world_size) % W``.
Ranks may get unequal counts (no collectives run per batch during evaluation).

Signal columns are read lazily by each worker, row group by row group, through a small LRU cache
(``cache_mb``): the corpus is never loaded whole.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .collate import Batch, Collator, Sample
from .windows import Source, WindowIndex


class _Words(np.random.bit_generator.ISeedSequence):
    """A precomputed seed (4 x 64 bits) for a bit generator: skips ``SeedSequence``'s hashing, which
    costs ~30 us per window, 10x building the generator itself."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        w = self.words if np.dtype(dtype) == np.uint64 else self.words.view(np.uint32)
        if n_words > len(w):
            raise ValueError(f"a window seed holds {len(w)} words of {np.dtype(dtype)}, {n_words} asked")
        return w[:n_words].copy()


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic): a bijection that scrambles every bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def window_generators(seed: int, step: int, slots: np.ndarray, tag: int = 5) -> list[np.random.Generator]:
    """One PCG64 generator per window slot of a global batch, a function of (seed, step, slot, tag)
    alone: the keys are chained through SplitMix64's finaliser (vectorised), 256 bits per window."""
    mask = (1 << 64) - 1
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        h = _mix(np.full(1, seed & mask, np.uint64) + golden)
        for v in (step, tag):
            h = _mix(h ^ np.uint64(v & mask)) + golden
        h = _mix(h ^ np.asarray(slots, np.uint64))                        # (B,)
        words = _mix(h[:, None] + golden * np.arange(1, 5, dtype=np.uint64))  # (B, 4)
    return [np.random.Generator(np.random.PCG64(_Words(w))) for w in words]


class ShardReader:
    """Reads row ranges of shards, decoding each needed row group once (LRU cache bounded in MB)."""

    #: open ParquetFile handles kept (least recently used closed first): each holds ~1 MB of Arrow
    #: buffers, so 64 handles over a many-shard corpus cost more than the row-group cache itself
    max_open_files = 8
    #: parsed footers kept, so that reopening a recently closed shard skips parsing its footer (the
    #: embedded dataset card makes it 30-200 KB): reads cost ~17 % more CPU with 8 handles and
    #: footers than with 64 handles, for ~60 MB less memory per worker over the real corpus
    max_footers = 64

    def __init__(self, cache_mb: int = 512) -> None:
        self.cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self.bytes = 0
        self.limit = cache_mb * 1024 * 1024
        self.offsets: dict[int, np.ndarray] = {}  # row-group boundaries per shard: a few numbers each
        self.metadata: OrderedDict[int, pq.FileMetaData] = OrderedDict()  # parsed footers, 30-200 KB each
        self.files: OrderedDict[int, pq.ParquetFile] = OrderedDict()
        self.reads = 0

    def _file(self, shard_id: int, path: Path) -> pq.ParquetFile:
        f = self.files.get(shard_id)
        if f is not None:
            self.files.move_to_end(shard_id)
            return f
        from imudata.storage import arrow_path, parquet_filesystem  # s3:// roots: read in place

        f = pq.ParquetFile(arrow_path(path), metadata=self.metadata.get(shard_id),  # a reopen skips the footer parse
                           filesystem=parquet_filesystem(path))
        self.files[shard_id] = f
        self.metadata[shard_id] = f.metadata
        self.metadata.move_to_end(shard_id)
        while len(self.metadata) > self.max_footers:
            self.metadata.popitem(last=False)
        if shard_id not in self.offsets:
            md = f.metadata
            self.offsets[shard_id] = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])
        while len(self.files) > self.max_open_files:
            self.files.popitem(last=False)
        return f

    def _group(self, shard_id: int, path: Path, rg: int, columns: list[str]) -> np.ndarray:
        key = (shard_id, rg)
        arr = self.cache.get(key)
        if arr is not None:
            self.cache.move_to_end(key)
            return arr
        # one thread: a row group of a few columns decodes faster than Arrow's pool starts on it, and
        # each pool thread would keep its own allocator heap in every loader worker
        tab = self._file(shard_id, path).read_row_group(rg, columns=columns, use_threads=False)
        arr = np.stack([tab.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False) for c in columns], 1)
        del tab
        self.reads += 1
        self.cache[key] = arr
        self.bytes += arr.nbytes
        while self.bytes > self.limit and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.bytes -= old.nbytes
        return arr

    def read(self, shard_id: int, path: Path, start: int, length: int, columns: list[str]) -> np.ndarray:
        self._file(shard_id, path)
        off = self.offsets[shard_id]
        g0 = int(np.searchsorted(off, start, side="right") - 1)
        g1 = int(np.searchsorted(off, start + length - 1, side="right") - 1)
        parts = []
        for g in range(g0, g1 + 1):
            arr = self._group(shard_id, path, g, columns)
            a = max(start, off[g]) - off[g]
            b = min(start + length, off[g + 1]) - off[g]
            parts.append(arr[a:b])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class WindowStream(IterableDataset):
    """Yields ready :class:`Batch` es for one rank (see the module docstring for the plan)."""

    def __init__(self, index: WindowIndex, sources: Sequence[Source], collator: Collator, *, mode: str,
                 batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0, steps: int | None = None,
                 start_step: int = 0, channel_ids: dict[int, np.ndarray] | None = None,
                 label_keys: np.ndarray | None = None, block_windows: int = 32, shuffle_blocks: int = 16,
                 cache_mb: int = 512) -> None:
        super().__init__()
        if len(index) == 0:
            raise ValueError("no windows to load: the split is empty (check the manifest's splits and window_s)")
        self.index = index
        self.sources = list(sources)
        self.collator = collator
        self.mode = mode
        self.B = batch_size
        self.rank = rank
        self.world = world_size
        self.seed = seed
        self.steps = steps
        self.start_step = start_step
        self.channel_ids = channel_ids or {s: np.arange(len(src.channels)) for s, src in enumerate(self.sources)}
        self.label_keys = label_keys if label_keys is not None else np.full(len(index), -1, np.int64)
        self.block_windows = block_windows
        self.shuffle_blocks = shuffle_blocks
        self.cache_mb = cache_mb
        order = np.lexsort((index.start, index.shard))  # shard-major, row order: locality
        self.buckets = {int(c): order[index.source[order] == c] for c in np.unique(index.source)}
        self.bucket_keys = sorted(self.buckets)
        self._epochs: dict[tuple[int, int], np.ndarray] = {}
        if mode != "eval":
            if steps is None:
                raise ValueError("training streams need a step budget")
            self.epoch_len = {b: len(self._epoch(b, 0)) for b in self.bucket_keys}
            self._plan()

    # ---------------------------------------------------------------- training plan
    def _epoch(self, bucket: int, epoch: int) -> np.ndarray:
        key = (bucket, epoch)
        if key in self._epochs:
            return self._epochs[key]
        seq = self.buckets[bucket].copy()
        rng = np.random.default_rng([self.seed, bucket, epoch, 17])
        nb = -(-len(seq) // self.block_windows)
        blocks = [seq[i * self.block_windows:(i + 1) * self.block_windows] for i in range(nb)]
        seq = np.concatenate([blocks[i] for i in rng.permutation(nb)]) if nb else seq
        g = self.block_windows * self.shuffle_blocks
        for i in range(0, len(seq), g):
            seq[i:i + g] = seq[i:i + g][rng.permutation(len(seq[i:i + g]))]
        if len(self._epochs) > 8:
            self._epochs.pop(next(iter(self._epochs)))
        self._epochs[key] = seq
        return seq

    def _plan(self) -> None:
        sizes = np.array([self.sources[b].weight if self.epoch_len[b] else 0.0 for b in self.bucket_keys], np.float64)
        if sizes.sum() <= 0:
            raise ValueError("every dataset has weight 0: nothing to sample")
        rng = np.random.default_rng([self.seed, 99])
        self.step_bucket = rng.choice(len(self.bucket_keys), size=self.steps, p=sizes / sizes.sum())
        G = self.B * self.world
        onehot = np.zeros((self.steps, len(self.bucket_keys)), np.int64)
        onehot[np.arange(self.steps), self.step_bucket] = 1
        before = np.cumsum(onehot, 0) - onehot  # steps of the same bucket before this one
        self.step_cursor = before[np.arange(self.steps), self.step_bucket] * G

    def global_batch(self, step: int) -> np.ndarray:
        """Window ids of the global batch of ``step`` (all ranks)."""
        b = self.bucket_keys[int(self.step_bucket[step])]
        E = self.epoch_len[b]
        pos = self.step_cursor[step] + np.arange(self.B * self.world)
        out = np.empty(len(pos), np.int64)
        for ep in np.unique(pos // E):
            m = pos // E == ep
            out[m] = self._epoch(b, int(ep))[pos[m] % E]
        return out

    def rank_batch(self, step: int) -> np.ndarray:
        g = self.global_batch(step)
        return g[self.rank * self.B:(self.rank + 1) * self.B]

    def epochs_done(self, step: int) -> float:
        total = sum(self.epoch_len.values())
        return step * self.B * self.world / max(total, 1)

    # ---------------------------------------------------------------- evaluation plan
    def eval_batches(self) -> list[np.ndarray]:
        """All batches of every rank (index j goes to rank j % world)."""
        out = []
        for b in self.bucket_keys:
            ids = np.sort(self.buckets[b])
            out += [ids[i:i + self.B] for i in range(0, len(ids), self.B)]
        return out

    def rank_eval_batches(self) -> list[np.ndarray]:
        return [x for j, x in enumerate(self.eval_batches()) if j % self.world == self.rank]

    # ---------------------------------------------------------------- iteration
    def work(self, worker: int, n_workers: int) -> Iterator[tuple[int, np.ndarray]]:
        """(step or batch number, window ids) this worker produces, in order."""
        if self.mode == "eval":
            for k, ids in enumerate(self.rank_eval_batches()):
                if k % n_workers == worker:
                    yield k, ids
        else:
            for s in range(self.start_step + worker, self.steps, n_workers):
                yield s, self.rank_batch(s)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info else (0, 1)
        if info is not None:
            torch.set_num_threads(1)
            # the C allocator instead of Arrow's default mimalloc pool in loader workers: mimalloc keeps
            # the pages of every decoded row group (~90 MB over the whole real corpus), malloc returns
            # them, at the same CPU cost (benchmarks/README.md)
            pa.set_memory_pool(pa.system_memory_pool())
        reader = ShardReader(self.cache_mb)
        for step, ids in self.work(worker, n_workers):
            samples = []
            for w in ids:
                w = int(w)
                s = int(self.index.source[w])
                src = self.sources[s]
                sh = int(self.index.shard[w])
                x = reader.read(sh, self.index.shards[sh].path, int(self.index.start[w]), int(self.index.length[w]),
                                src.channels)
                samples.append(Sample(x=x, names=src.channels, channel_ids=self.channel_ids[s], rate=src.rate,
                                      patch_s=src.patch_s, label=int(self.label_keys[w]), source=src.index, window=w))
            rngs = None if self.mode == "eval" else \
                window_generators(self.seed, step, self.rank * self.B + np.arange(len(ids)))
            yield self.collator(samples, rngs, step=step)


def make_loader(stream: WindowStream, num_workers: int, pin_memory: bool = False, prefetch: int = 4) -> DataLoader:
    """A DataLoader over a :class:`WindowStream` (batches are built in the workers)."""
    if stream.mode == "eval":
        n_work = len(stream.rank_eval_batches())
    else:
        n_work = max(0, (stream.steps or 0) - stream.start_step)
    workers = max(0, min(num_workers, n_work))
    # an explicit generator: creating the iterator must not draw from the global RNG (exact resume)
    kw = dict(batch_size=None, num_workers=workers, pin_memory=pin_memory,
              generator=torch.Generator().manual_seed(stream.seed))
    if workers:
        kw.update(prefetch_factor=prefetch, persistent_workers=False)
    return DataLoader(stream, **kw)
