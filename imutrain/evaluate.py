"""Evaluation of a run on a manifest: zero-shot (open and closed set), linear probe, 1% / 10% fine-tuning.

Every number is measured with subject-disjoint data:

- a ``pretrain`` dataset of the manifest is scored on its ``test`` subjects only;
- a ``heldout`` dataset (never trained on) is scored zero-shot on every listed subject; for the
  probe and fine-tuning its subjects are split into train / val / test (the manifest's lists when
  it gives a ``train`` split, else a seeded subject split, ``eval.heldout_split``).

Zero-shot closed set: cosine argmax over the dataset's own labels (canonical texts), exact match.
Zero-shot open set: argmax over every label the run was trained on; correct when the predicted
label is in the true label's group (imudata's vocabulary groups); a label whose group has no
training member can never be right (reported as ``coverage``). Chance levels are reported beside
each number: uniform guessing and always-majority for closed set; for open set the probability
that a uniformly drawn training label is in the true group.

Macro-F1 averages over the classes (or groups) present in the test labels.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import config as cfgmod
from . import families
from .data import Collator, WindowStream, build_index, make_loader, resolve_sources, subject_split
from .metrics import accuracy, chance, macro_f1
from .run import autocast, build_text, label_keys, load_manifest, load_model, read_run_info, run_labels, text_encoder


def _entry_with_splits(e: Any, recipe: cfgmod.Recipe) -> tuple[Any, str]:
    """The entry with train/val/test splits for probing (and where they came from).

    Only a heldout entry is re-split: a pretrain entry keeps the manifest's lists, so a pretraining
    set without a test split (all its subjects trained on) is never scored on a subject it trained on.
    """
    splits = {k: list(v) for k, v in (e.splits or {}).items() if v}
    if getattr(e, "role", "pretrain") != "heldout" or (splits.get("train") and splits.get("test")):
        return e, "manifest"
    subjects = sorted({s for v in splits.values() for s in v}, key=lambda s: (len(s), s))
    if not subjects:
        return e, "manifest"
    new = subject_split(subjects, recipe.eval.heldout_split, recipe.eval.seed)
    return dataclasses.replace(e, splits=new) if dataclasses.is_dataclass(e) else _ns(e, new), "seeded subject split"


def _ns(e: Any, splits: dict) -> Any:
    from types import SimpleNamespace

    d = dict(vars(e))
    d["splits"] = splits
    return SimpleNamespace(**d)


def evaluate(run_dir: str | Path, manifest_path: str | Path, *, root: str | Path | None = None,
             device: str | None = None, stage: str | None = None, untrained: bool = False,
             finetune: bool = True, probe: bool = True, out: str | Path | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    run_dir = Path(run_dir)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, recipe, used_stage = load_model(run_dir, stage, str(dev))
    fam = families.get(recipe.family)
    if hasattr(fam, "evaluate_run") and not untrained:  # a classifier family scores its own head (llm)
        return fam.evaluate_run(model, recipe, run_dir, manifest_path, root=root, device=dev,
                                out=Path(out) if out is not None else None, log=log)
    if untrained:
        torch.manual_seed(recipe.seed + 12345)
        model = fam.build(recipe).to(dev).eval()
        used_stage = "untrained (random initialisation: a control)"
    info = read_run_info(run_dir)
    from imudata import vocabulary

    man = load_manifest(manifest_path, root)
    if info.get("labels"):
        train_labels = [vocabulary.get(n) for n in info["labels"]]
    else:
        train_labels = run_labels(resolve_sources(man.pretrain, root))
    tenc = text_encoder(recipe, run_dir)
    train_lab_emb = fam.embed_texts(model, tenc, [c.text for c in train_labels], dev, recipe.eval.prompt_ensemble)
    results: dict[str, Any] = {"run": str(run_dir), "stage": used_stage, "manifest": str(manifest_path),
                               "recipe": recipe.name, "family": fam.name, "train_labels": [c.name for c in train_labels], "datasets": {}}
    dkw = dict(stride_frac=recipe.data.eval_stride_frac, min_window_frac=recipe.data.min_window_frac,
               min_label_frac=recipe.data.min_label_frac, window_s=recipe.data.window_s, labelled_only=True)
    for e in man.datasets:
        role = getattr(e, "role", "pretrain")
        e2, split_from = _entry_with_splits(e, recipe)
        (src,) = resolve_sources([e2], root)
        tables = build_text(tenc, [src])
        # labels of this dataset, as canonical labels (activities only)
        ds_labels = [c for c in {c.name: c for c in src.canonical.values() if c.activity}.values()]
        zs_subjects = sorted({s for v in src.splits.values() for s in v}) if role == "heldout" else src.splits.get("test", [])
        idx = build_index([src], "zs", subjects={src.id: zs_subjects}, **dkw)
        keys = label_keys(idx, [src], ds_labels)
        idx, keys = idx.subset(keys >= 0), keys[keys >= 0]
        row: dict[str, Any] = {"role": role, "subjects_zero_shot": zs_subjects, "windows": int(len(idx)),
                               "classes": len(ds_labels), "splits": src.splits, "splits_from": split_from,
                               "window_s": recipe.data.window_s or src.window_s, "channels": src.channels}
        log(f"[eval] {src.id}: {len(idx)} labelled windows, {len(ds_labels)} classes, subjects {zs_subjects}")
        if len(idx) == 0:
            results["datasets"][src.id] = row
            continue
        emb = fam.embed_windows(model, idx, [src], tables, recipe, dev)
        # closed set
        lab_emb = fam.embed_texts(model, tenc, [c.text for c in ds_labels], dev, recipe.eval.prompt_ensemble)
        pred = (emb @ lab_emb.T).argmax(1)
        row["zero_shot_closed"] = {"acc": accuracy(keys, pred), "f1": macro_f1(keys, pred),
                                   "chance": chance(keys, len(ds_labels))}
        row["predictions"] = {"y": keys.tolist(), "zero_shot_closed": pred.tolist(), "subject": idx.subject.tolist()}
        # a family's extra prompt sets (SensorLM: plain label text, caption-style sentences)
        if hasattr(fam, "prompt_sets"):
            for name, prompts in fam.prompt_sets([c.text for c in ds_labels], row["window_s"]).items():
                pe = fam.embed_texts(model, tenc, prompts, dev, False)
                p2 = (emb @ pe.T).argmax(1)
                row[f"zero_shot_closed_{name}"] = {"acc": accuracy(keys, p2), "f1": macro_f1(keys, p2),
                                                   "chance": chance(keys, len(ds_labels))}
                row["predictions"][f"zero_shot_closed_{name}"] = p2.tolist()
        # retrieval of each window's own caption among the windows' captions (families with captions)
        if hasattr(fam, "caption_texts"):
            row["retrieval"] = retrieval(fam, model, recipe, idx, [src], emb, dev)
        # open set: all training labels, scored by group
        true_g = np.array([ds_labels[k].group for k in keys])
        pred_g = np.array([train_labels[k].group for k in (emb @ train_lab_emb.T).argmax(1)])
        groups_train = [c.group for c in train_labels]
        covered = np.array([g in set(groups_train) for g in true_g])
        p_rand = np.array([groups_train.count(g) / len(groups_train) for g in true_g])
        row["zero_shot_open"] = {"acc": accuracy(true_g, pred_g), "f1": macro_f1(true_g, pred_g),
                                 "coverage": float(covered.mean()),
                                 "chance": {"uniform": float(p_rand.mean()),
                                            "majority": chance(true_g, 1)["majority"]}}
        log(f"[eval] {src.id}: zero-shot closed acc {row['zero_shot_closed']['acc']:.3f} "
            f"(chance {1 / len(ds_labels):.3f}), open acc {row['zero_shot_open']['acc']:.3f}")
        if probe or finetune:
            row.update(_supervised(model, recipe, src, tables, ds_labels, lab_emb, dkw, dev, probe, finetune, log))
        results["datasets"][src.id] = row
    if out is not None:
        write_results(results, Path(out))
    return results


def _split_index(src, split: str, dkw: dict, ds_labels: list):
    idx = build_index([src], split, **dkw)
    keys = label_keys(idx, [src], ds_labels)
    return idx.subset(keys >= 0), keys[keys >= 0]


def _supervised(model: torch.nn.Module, recipe: cfgmod.Recipe, src, tables, ds_labels, lab_emb, dkw, dev, probe, finetune, log):
    out: dict[str, Any] = {}
    tr_idx, tr_y = _split_index(src, "train", dkw, ds_labels)
    va_idx, va_y = _split_index(src, "val", dkw, ds_labels)
    te_idx, te_y = _split_index(src, "test", dkw, ds_labels)
    if len(tr_idx) == 0 or len(te_idx) == 0:
        return {"supervised_note": "no train or test windows in the subject split"}
    out["supervised_windows"] = {"train": int(len(tr_idx)), "val": int(len(va_idx)), "test": int(len(te_idx))}
    n_cls = len(ds_labels)
    if probe:
        fam = families.get(recipe.family)
        tr_e = fam.embed_windows(model, tr_idx, [src], tables, recipe, dev)
        te_e = fam.embed_windows(model, te_idx, [src], tables, recipe, dev)
        pred = linear_probe(tr_e, tr_y, te_e, n_cls, recipe.eval)
        out["linear_probe"] = {"acc": accuracy(te_y, pred), "f1": macro_f1(te_y, pred), "train_windows": int(len(tr_y)),
                               "chance": chance(te_y, n_cls)}
        log(f"[eval] {src.id}: linear probe acc {out['linear_probe']['acc']:.3f}")
    if finetune and not getattr(families.get(recipe.family), "supports_finetune", True):
        out["finetune_note"] = f"few-label fine-tuning is not implemented for the {recipe.family} family"
    elif finetune:
        for frac in recipe.eval.fractions:
            sel = few_label_subset(tr_y, frac, recipe.eval.seed)
            pred = fine_tune(model, recipe, src, tables, tr_idx.subset(sel), tr_y[sel], va_idx, va_y, te_idx,
                             torch.from_numpy(lab_emb), dev)
            key = f"finetune_{int(round(frac * 100))}pct"
            out[key] = {"acc": accuracy(te_y, pred), "f1": macro_f1(te_y, pred), "train_windows": int(sel.sum()),
                        "chance": chance(te_y, n_cls)}
            log(f"[eval] {src.id}: {key} ({int(sel.sum())} windows) acc {out[key]['acc']:.3f}")
    return out


def recall_at_k(sim: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, dict[int, float]]:
    """Recall@k of square similarity ``sim`` (row i's match is column i), both directions.

    ``s2t``: for each window (row), is its own caption among the k most similar captions;
    ``t2s``: the same per caption (column). Ties count against the match (rank = 1 + number of
    items scoring at least as high, other than itself)."""
    n = sim.shape[0]
    diag = np.diag(sim)
    rank_s2t = (sim >= diag[:, None]).sum(1)          # includes itself
    rank_t2s = (sim >= diag[None, :]).sum(0)
    return {"s2t": {k: float((rank_s2t <= k).mean()) if n else float("nan") for k in ks},
            "t2s": {k: float((rank_t2s <= k).mean()) if n else float("nan") for k in ks}}


def recall_same_text(sim: np.ndarray, texts: list[str], ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, dict[int, float]]:
    """Recall@k where any item with the window's exact caption text counts as its match.

    Windows that share a caption (e.g. "Walking from second 0 to 5.") make the strict metric
    count identical texts against each other. ``s2t`` ranks the distinct texts (identical texts
    have identical embeddings); ``t2s``: is any window carrying this text among the k most similar
    windows. Chance: s2t k/U over U distinct texts; t2s 1 - C(N-m, k) / C(N, k) for a text held
    by m of N windows (a random ranking), averaged over captions."""
    from math import comb

    n = len(texts)
    uniq = sorted(set(texts))
    pos = {t: i for i, t in enumerate(uniq)}
    tid = np.array([pos[t] for t in texts])
    first = np.array([texts.index(t) for t in uniq])
    su = sim[:, first]                                   # (N windows, U distinct texts)
    own = su[np.arange(n), tid]
    rank_s2t = 1 + ((su >= own[:, None]).sum(1) - 1)    # distinct texts other than its own scoring >= it
    count = np.bincount(tid, minlength=len(uniq))
    order = np.argsort(-sim, axis=0, kind="stable")     # per caption column: windows by similarity
    out_s2t, out_t2s, ch_t2s = {}, {}, {}
    for k in ks:
        out_s2t[k] = float((rank_s2t <= k).mean())
        top = order[:k]                                  # (k, N)
        out_t2s[k] = float((tid[top] == tid[None, :]).any(0).mean())
        ch_t2s[k] = float(np.mean([1 - comb(n - count[t], min(k, n)) / comb(n, min(k, n)) for t in tid]))
    return {"s2t": out_s2t, "t2s": out_t2s,
            "chance": {"s2t": {k: min(k, len(uniq)) / len(uniq) for k in ks}, "t2s": ch_t2s}}


def retrieval(fam, model, recipe: cfgmod.Recipe, idx, sources, emb: np.ndarray, dev, ks=(1, 5, 10)) -> dict[str, Any]:
    """Recall@k between windows and their own captions, with the random-ranking chance min(k, N) / N;
    ``same_text`` counts a window's exact caption text as its match (see :func:`recall_same_text`)."""
    texts = fam.caption_texts(recipe, idx, sources)
    keep = np.array([bool(t) for t in texts], bool)
    if not keep.any():
        return {"n": 0}
    kept = [t for t in texts if t]
    zt = fam.embed_texts(model, None, kept, dev, False)
    sim = fam.score(emb[keep], zt)
    r = recall_at_k(sim, ks)
    n = int(keep.sum())
    return {"n": n, "s2t": r["s2t"], "t2s": r["t2s"], "chance": {k: min(k, n) / n for k in ks},
            "unique_captions": len(set(kept)), "same_text": recall_same_text(sim, kept, ks)}


def few_label_subset(y: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """Class-balanced subset: ``max(1, round(frac * N / n_classes))`` windows per class present."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = max(1, int(round(frac * len(y) / max(len(classes), 1))))
    sel = np.zeros(len(y), bool)
    for c in classes:
        ids = np.flatnonzero(y == c)
        sel[rng.choice(ids, min(per, len(ids)), replace=False)] = True
    return sel


def linear_probe(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, n_cls: int, cfg: cfgmod.EvalConfig) -> np.ndarray:
    """Multinomial logistic regression on frozen, standardised embeddings (full batch, AdamW)."""
    torch.manual_seed(cfg.seed)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    X = torch.from_numpy((x - mu) / sd).float()
    Y = torch.from_numpy(y).long()
    lin = torch.nn.Linear(X.shape[1], n_cls)
    opt = torch.optim.AdamW(lin.parameters(), lr=cfg.probe_lr, weight_decay=cfg.probe_weight_decay)
    for _ in range(cfg.probe_epochs):
        opt.zero_grad()
        F.cross_entropy(lin(X), Y).backward()
        opt.step()
    with torch.no_grad():
        return lin(torch.from_numpy((x_test - mu) / sd).float()).argmax(1).numpy()


def _batches(index, src, tables, recipe, batch_size):
    col = Collator("eval", recipe.model.patch_len, recipe.model.max_patches, None)
    stream = WindowStream(index, [src], col, mode="eval", batch_size=batch_size, channel_ids=tables.channel_ids,
                          cache_mb=recipe.data.cache_mb)
    return list(make_loader(stream, 0))


def fine_tune(model: torch.nn.Module, recipe: cfgmod.Recipe, src, tables, tr_idx, tr_y, va_idx, va_y, te_idx, lab_emb, dev) -> np.ndarray:
    """End-to-end fine-tuning of a copy of encoder + head; logits = cosine to the frozen label embeddings / T.

    Early stopping on validation macro-F1 (the reported metric), best state restored.
    """
    cfg = recipe.eval
    torch.manual_seed(cfg.seed)
    m = copy.deepcopy(model).to(dev)
    params = list(m.encoder.parameters()) + list(m.head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.finetune_lr, weight_decay=1e-4)
    lab = lab_emb.to(dev)
    chan = tables.channel.to(dev)
    train_b = _batches(tr_idx, src, tables, recipe, cfg.finetune_batch)

    from .run import encode_windows

    def predict(index) -> np.ndarray:
        return (encode_windows(m, index, [src], tables, recipe, dev) @ lab.cpu().numpy().T).argmax(1)

    best, best_state, bad = -1.0, None, 0
    rng = np.random.default_rng(cfg.seed)
    for _ in range(cfg.finetune_epochs):
        m.train()
        for bi in rng.permutation(len(train_b)):
            b = train_b[bi].to(dev)
            y = torch.from_numpy(tr_y[b.window.cpu().numpy()]).to(dev)  # window = position in tr_idx
            with autocast(dev):
                tok = m.encoder(b.patches, b.stats, b.patch_mask, b.channel_mask, b.channel_ids, chan)
                emb = m.head(tok, b.patch_mask, b.channel_mask)
            loss = F.cross_entropy(emb.float() @ lab.t() / cfg.finetune_temperature, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        if len(va_idx):
            score = macro_f1(va_y, predict(va_idx))
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in m.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.finetune_patience:
                    break
    if best_state is not None:
        m.load_state_dict(best_state)
    return predict(te_idx)


# ------------------------------------------------------------------------------------ reporting
def _fmt(d: dict | None, key: str = "acc") -> str:
    return "" if not d or key not in d or d[key] != d[key] else f"{100 * d[key]:.1f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Run `{results['run']}` ({results['recipe']}, weights: {results['stage']}), manifest "
             f"`{results['manifest']}`. Accuracy / macro-F1 in %, chance beside each number "
             f"(closed set: uniform 1/classes, majority class; open set: a random training label in the true "
             f"group).", "",
             "| dataset | role | windows | classes | ZS closed acc / F1 | chance (unif / maj) | ZS open acc / F1 | open chance | "
             "open coverage | probe acc / F1 | 1% acc / F1 | 10% acc / F1 |",
             "|---|---|---:|---:|---|---|---|---|---|---|---|---|"]
    for ds, r in results["datasets"].items():
        zc, zo = r.get("zero_shot_closed"), r.get("zero_shot_open")
        lp, f1p, f10 = r.get("linear_probe"), r.get("finetune_1pct"), r.get("finetune_10pct")
        pair = lambda d: "" if not d else f"{_fmt(d)} / {_fmt(d, 'f1')}"  # noqa: E731
        ch = zc["chance"] if zc else {}
        lines.append(f"| {ds} | {r['role']} | {r['windows']} | {r['classes']} | {pair(zc)} | "
                     f"{_fmt(ch, 'uniform')} / {_fmt(ch, 'majority')} | {pair(zo)} | "
                     f"{_fmt(zo['chance'], 'uniform') if zo else ''} | {_fmt(zo, 'coverage') if zo else ''} | "
                     f"{pair(lp)} | {pair(f1p)} | {pair(f10)} |")
    extra = [(ds, r) for ds, r in results["datasets"].items() if r.get("retrieval") or r.get("zero_shot_closed_caption")]
    if extra:
        lines += ["", "| dataset | ZS plain acc / F1 | ZS caption-style acc / F1 | windows | R@1 / 5 / 10 sensor->text | "
                  "R@1 / 5 / 10 text->sensor | chance R@1 / 5 / 10 |", "|---|---|---|---:|---|---|---|"]
        for ds, r in extra:
            pair = lambda d: "" if not d else f"{_fmt(d)} / {_fmt(d, 'f1')}"  # noqa: E731
            rt = r.get("retrieval") or {}
            trip = lambda d: "" if not d else " / ".join(f"{100 * d[k]:.1f}" for k in sorted(d, key=int))  # noqa: E731
            lines.append(f"| {ds} | {pair(r.get('zero_shot_closed_plain'))} | {pair(r.get('zero_shot_closed_caption'))} | "
                         f"{rt.get('n', '')} | {trip(rt.get('s2t'))} | {trip(rt.get('t2s'))} | {trip(rt.get('chance'))} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(markdown(results))
