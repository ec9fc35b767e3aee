"""Classification quality beyond the linear probe: held-out top-1 accuracy of each
training method on the same seeded splits, at 5, 15 and 50 training images per class,
on the real-photo set (Tests/Fixtures/make_photo_set.py) and Fashion-MNIST.

Runs `sightline-bench quality` (release build) and writes Benchmarks/classification-quality.md:
mean and standard deviation over the splits, and each method's median training time
(features already cached, as a retrain sees them). Lite1 rows come from `--lite1`.

    .venv/bin/python Benchmarks/classification_quality.py [--seeds 5] [--sets photos,fashion-mnist]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH = os.path.join(ROOT, ".build", "release", "sightline-bench")
NAMES = {
    "probe": "Linear probe (Quick today: 2 views)",
    "probe-tta": "Linear probe + mirror TTA",
    "probe-large": "Linear probe, tested at 9/7 of the input size",
    "probe-4views": "Linear probe, 4 views (Advanced before)",
    "probe-4views-tta": "Linear probe, 4 views + mirror TTA",
    "finetune": "Fine-tuned last stage + head (16 views)",
}


def run(args):
    out = subprocess.run([BENCH, "quality"] + args, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="5")
    p.add_argument("--sets", default="photos,fashion-mnist")
    p.add_argument("--per-class", default="5,15,50")
    p.add_argument("--methods", default="probe,probe-tta,probe-large,probe-4views,finetune")
    p.add_argument("--lite1-methods", default="probe,probe-tta", help="methods also run on Lite1; empty for none")
    p.add_argument("--out", default=os.path.join(ROOT, "Benchmarks", "classification-quality.md"))
    a = p.parse_args()
    common = ["--sets", a.sets, "--per-class", a.per_class, "--seeds", a.seeds]
    rows = [dict(r, backbone="Lite0") for r in run(common + ["--methods", a.methods])]
    if a.lite1_methods:
        rows += [dict(r, backbone="Lite1") for r in run(common + ["--methods", a.lite1_methods, "--lite1", "1", "--views", "4"])]

    lines = [
        "# Classification quality",
        "",
        f"Measured {datetime.date.today()} with `.venv/bin/python Benchmarks/classification_quality.py --seeds {a.seeds}` "
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
    tuned = [r for r in rows if r["method"] == "finetune"]
    if tuned:
        lines += ["", "Fine-tuning's early stopping (epochs chosen on the held-out fold, per split):", ""]
        for r in tuned:
            lines.append(f"- {r['set']}, {r['per_class']} per class: epochs {r['epochs']}; held-out fold accuracy "
                         f"probe {[round(x, 2) for x in r['probe_held_out_accuracy']]} → chosen {[round(x, 2) for x in r['best_held_out_accuracy']]}")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
