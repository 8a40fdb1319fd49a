"""Tables of the SensorLM CPU result from the run folders of results/sensorlm-cpu.sh.

Per caption level: zero-shot closed-set accuracy / macro-F1 (plain label text and caption-style
prompts) with the benchmark harness's subject-bootstrap interval of the seed mean and its chance
levels (imutrain.bench.stats), Recall@1/5/10 both directions (mean over seeds, seed sd) beside the
random-ranking chance k/N, the linear probe, caption truncation, and the INT8 report.

The random-weights control (``RUNS/control/untrained-s<seed>/results.json``: ``imutrain eval
--untrained`` of the ``high_all`` run of that seed, i.e. the same towers untrained, the same
evaluation) is one more row, ``random weights``, and the probe table sets every arm beside it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from imutrain.bench.stats import bootstrap_seed_mean, chance_levels

LEVELS = ("low", "middle", "high_all", "label-free")
CONTROL = "random weights"


def main(runs: Path, json_out: Path, md_out: Path) -> None:
    found: dict[str, list[tuple[int, dict, dict]]] = {}
    for d in sorted(runs.glob("*-s*")):
        res = d / "eval-sensorlm-dev" / "results.json"
        if not res.exists():
            continue
        level, seed = d.name.rsplit("-s", 1)
        info = json.loads((d / "run.json").read_text())
        found.setdefault(level, []).append((int(seed), json.loads(res.read_text()), info))
    for res in sorted((runs / "control").glob("untrained-s*/results.json")):
        found.setdefault(CONTROL, []).append((int(res.parent.name.rsplit("-s", 1)[1]), json.loads(res.read_text()), {}))
    out: dict = {"levels": {}}
    md = ["| caption level | seeds | dataset | ZS plain acc [95% CI] | ZS plain F1 [95% CI] | ZS caption-style acc / F1 | "
          "chance acc unif / maj | chance F1 unif | R@1 / 5 / 10 s->t | R@1 / 5 / 10 t->s | chance R@1 / 5 / 10 | probe acc / F1 |",
          "|---|---:|---|---|---|---|---|---|---|---|---|---|"]
    for level in [lv for lv in (*LEVELS, CONTROL) if lv in found]:
        runs_ = sorted(found[level], key=lambda x: x[0])
        seeds = [s for s, _, _ in runs_]
        lv_out = {"seeds": seeds, "captions": runs_[0][2].get("sensorlm_captions"), "datasets": {}}
        for ds in runs_[0][1]["datasets"]:
            rows = [r["datasets"][ds] for _, r, _ in runs_]
            pr = rows[0]["predictions"]
            y, subj = np.array(pr["y"]), np.array(pr["subject"])
            k = rows[0]["classes"]
            plain = bootstrap_seed_mean(y, [np.array(r["predictions"]["zero_shot_closed_plain"]) for r in rows], subj, k)
            capt = bootstrap_seed_mean(y, [np.array(r["predictions"]["zero_shot_closed_caption"]) for r in rows], subj, k)
            ch = chance_levels(y)
            ret = {d: {kk: [r["retrieval"][d][kk] for r in rows] for kk in ("1", "5", "10")} for d in ("s2t", "t2s")}
            probe = [r.get("linear_probe") for r in rows if r.get("linear_probe")]
            e = {"windows": int(len(y)), "subjects": int(plain["n_subjects"]), "classes_present": int(len(set(y.tolist()))),
                 "zero_shot_plain": plain, "zero_shot_caption": capt, "chance": ch,
                 "retrieval": {d: {kk: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
                                   for kk, v in ret[d].items()} for d in ret},
                 "retrieval_n": rows[0]["retrieval"]["n"], "retrieval_chance": rows[0]["retrieval"]["chance"],
                 "unique_captions": rows[0]["retrieval"].get("unique_captions"),
                 "retrieval_same_text": {d: {kk: float(np.mean([r["retrieval"]["same_text"][d][kk] for r in rows]))
                                             for kk in ("1", "5", "10")} for d in ("s2t", "t2s")}
                 if all("same_text" in r["retrieval"] for r in rows) else None,
                 "retrieval_same_text_chance": rows[0]["retrieval"].get("same_text", {}).get("chance"),
                 "probe": {"acc": float(np.mean([p["acc"] for p in probe])), "f1": float(np.mean([p["f1"] for p in probe])),
                           "acc_per_seed": [p["acc"] for p in probe], "f1_per_seed": [p["f1"] for p in probe],
                           "acc_sd": float(np.std([p["acc"] for p in probe], ddof=1)) if len(probe) > 1 else 0.0,
                           "f1_sd": float(np.std([p["f1"] for p in probe], ddof=1)) if len(probe) > 1 else 0.0,
                           "chance": probe[0].get("chance")}
                 if probe else None}
            lv_out["datasets"][ds] = e
            f = lambda x: f"{100 * x:.1f}"  # noqa: E731
            ci = lambda m: f"{f(m['mean'])} [{f(m['lo'])}, {f(m['hi'])}]"  # noqa: E731
            trip = lambda d: " / ".join(f(d[kk]["mean"]) for kk in ("1", "5", "10"))  # noqa: E731
            md.append(f"| {level} | {len(seeds)} | {ds} | {ci(plain['acc'])} | {ci(plain['f1'])} | "
                      f"{f(capt['acc']['mean'])} / {f(capt['f1']['mean'])} | {f(ch['acc_uniform'])} / {f(ch['acc_majority'])} | "
                      f"{f(ch['f1_uniform'])} | {trip(e['retrieval']['s2t'])} | {trip(e['retrieval']['t2s'])} | "
                      f"{' / '.join(f(e['retrieval_chance'][kk]) for kk in ('1', '5', '10'))} | "
                      f"{(f(e['probe']['acc']) + ' / ' + f(e['probe']['f1'])) if e['probe'] else ''} |")
        out["levels"][level] = lv_out
    md += ["", "Retrieval with a window's exact caption text counted as its match (same_text; chance from a random ranking):", "",
           "| caption level | dataset | distinct captions / windows | R@1 / 5 / 10 s->t | chance | R@1 / 5 / 10 t->s | chance |",
           "|---|---|---|---|---|---|---|"]
    for level, lv in out["levels"].items():
        for ds, e in lv["datasets"].items():
            st, ch = e.get("retrieval_same_text"), e.get("retrieval_same_text_chance")
            if not st:
                continue
            g = lambda d: " / ".join(f"{100 * d[kk]:.1f}" for kk in ("1", "5", "10"))  # noqa: E731
            md.append(f"| {level} | {ds} | {e['unique_captions']} / {e['retrieval_n']} | {g(st['s2t'])} | {g(ch['s2t'])} | "
                      f"{g(st['t2s'])} | {g(ch['t2s'])} |")
    md += probe_table(out["levels"])
    q = runs / "high_all-s0" / "int8" / "report.json"
    if q.exists():
        out["int8"] = json.loads(q.read_text())
    json_out.write_text(json.dumps(out, indent=2))
    md_out.write_text("\n".join(md) + "\n")


def probe_table(levels: dict) -> list[str]:
    """Linear probe per arm beside the random-weights control: seed mean ± sd, per-seed values, and
    the arm's mean minus the control's (what alignment added to the frozen sensor embedding)."""
    if CONTROL not in levels:
        return []
    f = lambda x: f"{100 * x:.1f}"  # noqa: E731
    md = ["", ("Linear probe on the frozen sensor embedding, each arm beside the same towers untrained (random "
               "weights; seed mean ± seed sd, per-seed values; difference = arm mean − control mean, in points):"), "",
          "| caption level | dataset | seeds | probe acc | probe F1 | acc per seed | acc − control | F1 − control |",
          "|---|---|---:|---|---|---|---|---|"]
    for level, lv in levels.items():
        for ds, e in lv["datasets"].items():
            p, c = e.get("probe"), levels[CONTROL]["datasets"].get(ds, {}).get("probe")
            if not p:
                continue
            diff = (f"{100 * (p['acc'] - c['acc']):+.1f}", f"{100 * (p['f1'] - c['f1']):+.1f}") \
                if c and level != CONTROL else ("", "")
            md.append(f"| {level} | {ds} | {len(p['acc_per_seed'])} | {f(p['acc'])} ± {f(p['acc_sd'])} | "
                      f"{f(p['f1'])} ± {f(p['f1_sd'])} | {' / '.join(f(v) for v in p['acc_per_seed'])} | {diff[0]} | {diff[1]} |")
    return md


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
