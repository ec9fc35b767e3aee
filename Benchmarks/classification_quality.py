"""Classification quality beyond the linear probe: held-out top-1 accuracy of each
training method on the same seeded splits, at 5, 15 and 50 training images per class,
on the real-photo set (Tests/Fixtures/make_photo_set.py) and Fashion-MNIST.

Runs `sightline-bench quality` (release build) and writes Benchmarks/classification-quality.md:
mean and standard deviation over the splits, and each method's median training time
(features already cached, as a retrain sees them). Lite1 rows come from `--lite1`.

    .venv/bin/python Benchmarks/classification_quality.py [--seeds 5] [--sets photos,fashion-mnist] [--feature-cache]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import tempfile

from bench_mode import ROOT, SMOKE, binary, sized

BENCH = binary("sightline-bench")
NAMES = {
    "probe": "Linear probe (Quick today: 2 views)",
    "probe-tta": "Linear probe + mirror TTA",
    "probe-large": "Linear probe, tested at 9/7 of the input size",
    "probe-4views": "Linear probe, 4 views (Advanced before)",
    "probe-4views-tta": "Linear probe, 4 views + mirror TTA",
    "finetune": "Fine-tuned last stage + head, 8 epochs (Advanced: 16 views)",
    "finetune-early": "Fine-tuned, epochs by early stopping (the first recipe)",
}


def run(args):
    out = subprocess.run([BENCH, "quality"] + args, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    p = argparse.ArgumentParser()
    # A smoke run: one seed, 5 per class, the probe and the fine-tune, Lite0; the table is not kept.
    p.add_argument("--seeds", default=sized("5", "1"))
    p.add_argument("--sets", default=sized("photos,fashion-mnist", "fashion-mnist"))
    p.add_argument("--per-class", default=sized("5,15,50", "5"))
    p.add_argument("--methods", default=sized("probe,probe-tta,probe-large,probe-4views,finetune,finetune-early", "probe,finetune"))
    p.add_argument("--feature-cache", action="store_true",
                   help="keep backbone passes in .cache/bench-features between runs (stale after engine changes)")
    p.add_argument("--lite1-methods", default=sized("probe,probe-tta", ""), help="methods also run on Lite1; empty for none")
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir() if SMOKE else os.path.join(ROOT, "Benchmarks"),
                                                 "classification-quality.md"))
    a = p.parse_args()
    common = ["--sets", a.sets, "--per-class", a.per_class, "--seeds", a.seeds] + (["--feature-cache", "1"] if a.feature_cache else [])
    common += ["--epochs", "1"] if SMOKE else []
    rows = [dict(r, backbone="Lite0") for r in run(common + ["--methods", a.methods])]
    if a.lite1_methods:
        rows += [dict(r, backbone="Lite1") for r in run(common + ["--methods", a.lite1_methods, "--lite1", "1", "--views", "4"])]

    lines = [
        "# Classification quality",
        "",
        f"Measured {datetime.date.today()} with `.venv/bin/python Benchmarks/classification_quality.py --seeds {a.seeds}"
        + (" --feature-cache" if a.feature_cache else "") + "` "
        "(release build, one thread). Held-out top-1 accuracy, mean ± standard deviation over seeded splits; "
        "training time is the median per fit with features already cached.",
        "",
        "| set | images per class | backbone | method | accuracy | splits | training time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["set"], r["per_class"], r["backbone"], list(NAMES).index(r["method"]))):
        acc = r["accuracy"]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        lines.append(f"| {r['set']} | {r['per_class']} | {r['backbone']} | {NAMES[r['method']]} | "
                     f"{100 * statistics.mean(acc):.1f} % ± {100 * sd:.1f} | {r['splits']} | {statistics.median(r['train_ms']) / 1000:.1f} s |")
    # Paired by split: the same training and test images for both methods.
    probes = {(r["set"], r["per_class"], r["backbone"]): r for r in rows if r["method"] == "probe"}
    lines += ["", "Gain over the linear probe on the same splits (mean ± standard deviation of the per-split differences):", ""]
    for r in rows:
        base = probes.get((r["set"], r["per_class"], r["backbone"]))
        if r["method"].startswith("finetune") and base:
            diffs = [100 * (x - y) for x, y in zip(r["accuracy"], base["accuracy"])]
            sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            wins = sum(d > 0 for d in diffs)
            lines.append(f"- {r['set']}, {r['per_class']} per class, {NAMES[r['method']]}: {statistics.mean(diffs):+.1f} ± {sd:.1f} points "
                         f"(better on {wins} of {len(diffs)} splits; per split {[round(d, 1) for d in diffs]})")
    lines += ["", "Epochs per split (0: the held-out fold found the fine-tune less accurate than the probe, or no epoch "
              "beat it, so the probe ships) and the held-out fold's accuracy, probe → fine-tune:", ""]
    for r in rows:
        if r["method"].startswith("finetune"):
            lines.append(f"- {r['set']}, {r['per_class']} per class, {r['method']}: epochs {r['epochs']}; "
                         f"{[round(x, 2) for x in r['probe_held_out_accuracy']]} → {[round(x, 2) for x in r['best_held_out_accuracy']]}")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
