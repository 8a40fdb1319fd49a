"""The benchmark harness (docs/benchmark.md): baselines, seeds, subject-bootstrap intervals.

``imutrain bench PROTOCOL.yaml`` runs every method x seed x protocol x target cell (resumable) and
writes JSON + markdown tables; modules: ``data`` (windows read once), ``features`` (the
rotation-invariant baseline), ``probe`` (LR / MLP), ``encode`` (TSFM embeddings of raw windows),
``supervised`` (the cross-entropy baseline), ``stats`` (scores, chance, bootstrap), ``runner``.
"""
