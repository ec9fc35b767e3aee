"""Builds .cache/datasets/photos (git-ignored): a small image-classification set of real
photographs, six classes, for the classification accuracy benchmarks and test. Fashion-MNIST
says little about how a pretrained backbone does on photos, and nothing may be fetched at run
time, so the photos come from Debian packages that ship them (fetched with `apt-get download`
into .cache/downloads/debs and read without installing):

- gcompris-qt-data 3.1-2 (the GCompris activities' Qt resource bundles, .rcc): animal photos
  of "erase", "explore_world_animals" and "explore_farm_animals", the monuments of
  "explore_monuments" and "details", the fishes, monuments and windmills of "categorization".
  Each photo's author, source and licence are in the README next to it in the bundle: Public
  Domain, CC0-1.0, CC-BY-2.0/3.0/4.0 or CC-BY-SA-3.0/4.0 (the package itself is GPL-3+).
- lomiri-wallpapers-16.04 20.04.0-2: Aitzol Berasategi's photos, CC-BY-4.0.
- mate-backgrounds 1.26.0-1: nature/Dune.jpg (Marco Cogoni), nature/Storm.jpg (Sergey
  Nazarov), GPL-2+.
- plasma-workspace-wallpapers 4:5.27.5-2: the photo wallpapers By the Water, Cold Ripple,
  Evening Glow, Path and summer 1am, LGPL-3 (package GPL-2+).

Every photo used is listed in PHOTOS with its class, chosen by looking at it; drawings,
renders, statues, near-duplicates and photos that fit two classes are left out. A photo gives
one or more square crops (OBJECT_CROPS, or SCENE_CROPS for landscapes, in that order, as many
as its class needs to reach about TARGET images; nearly uniform crops, such as sky alone, are
skipped), each resized to 256×256 and saved as JPEG quality 92 in photos/<class>/. manifest.json lists, in a fixed
order, {"file": path relative to photos/, "label": class, "group": the source photo}; all
crops of one photo share a group (as do different photos of one monument, SAME_SUBJECT), so
a split that keeps groups on one side never tests on a photo it trained on. Nothing is
random. When manifest.json exists the script only prints the summary. Needs apt-get and
dpkg-deb (Debian), numpy and Pillow with WebP (the venv has them).
"""
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEBS = os.path.join(ROOT, ".cache", "downloads", "debs")
OUT = os.path.join(ROOT, ".cache", "datasets", "photos")

PACKAGES = {  # name -> version the table was made from
    "gcompris-qt-data": "3.1-2",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "mate-backgrounds": "1.26.0-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
}
SIZE = 256
TARGET = 75          # images per class, roughly
MIN_SIDE = 150       # smallest crop, in source pixels
MIN_STD = 14.0       # grey-level standard deviation a crop needs (0-255 scale)
MIN_DETAIL = 1.2     # and mean step between neighbouring grey pixels at 128×128 (a smooth sky has ~0.5)

# ---- the photos -----------------------------------------------------------------------------
# (package, path inside the package, class). For GCompris the path is
# "<.rcc file in the package>:<file inside the bundle>".

GC = "gcompris-qt-data"
RCC = "usr/share/gcompris-qt/rcc/"
ERASE = RCC + "erase.rcc:gcompris/src/activities/erase/resource/"
WORLD = RCC + "explore_world_animals.rcc:gcompris/src/activities/explore_world_animals/resource/animals/"
FARM = RCC + "explore_farm_animals.rcc:gcompris/src/activities/explore_farm_animals/resource/animals/"
MONU = RCC + "explore_monuments.rcc:gcompris/src/activities/explore_monuments/resource/"
DETAILS = RCC + "details.rcc:gcompris/src/activities/details/resource/image/"
CAT = RCC + "categorization.rcc:gcompris/src/activities/categorization/resource/images/"
LOMIRI = "usr/share/backgrounds/"
MATE = "usr/share/backgrounds/mate/nature/"
PLASMA = "usr/share/wallpapers/"

PHOTOS = [
    # mammals
    (GC, ERASE + "alpaca.webp", "mammal"),
    (GC, ERASE + "calf.webp", "mammal"),
    (GC, ERASE + "camels.webp", "mammal"),
    (GC, ERASE + "cheetah.webp", "mammal"),
    (GC, ERASE + "flying_fox.webp", "mammal"),
    (GC, ERASE + "gibbon.webp", "mammal"),
    (GC, ERASE + "giraffe.webp", "mammal"),
    (GC, ERASE + "goat.webp", "mammal"),
    (GC, ERASE + "gorilla.webp", "mammal"),
    (GC, ERASE + "horse.webp", "mammal"),
    (GC, ERASE + "kitten.webp", "mammal"),
    (GC, ERASE + "long_nosed_monkey.webp", "mammal"),
    (GC, ERASE + "macaque.webp", "mammal"),
    (GC, ERASE + "meerkats.webp", "mammal"),
    (GC, ERASE + "nubian_ibex.webp", "mammal"),
    (GC, ERASE + "pika.webp", "mammal"),
    (GC, ERASE + "red_panda.webp", "mammal"),
    (GC, ERASE + "rhinoceros.webp", "mammal"),
    (GC, ERASE + "squirrel.webp", "mammal"),
    (GC, WORLD + "bison.webp", "mammal"),
    (GC, WORLD + "giraffe.webp", "mammal"),
    (GC, WORLD + "hedgehog.webp", "mammal"),
    (GC, WORLD + "jaguar.webp", "mammal"),
    (GC, WORLD + "kangaroo.webp", "mammal"),
    (GC, WORLD + "koala.webp", "mammal"),
    (GC, WORLD + "lemur.webp", "mammal"),
    (GC, WORLD + "moose.webp", "mammal"),
    (GC, WORLD + "panda.webp", "mammal"),
    (GC, WORLD + "polar_bear.webp", "mammal"),
    (GC, FARM + "cat.webp", "mammal"),
    (GC, FARM + "cow.webp", "mammal"),
    (GC, FARM + "dog.webp", "mammal"),
    (GC, FARM + "horse.webp", "mammal"),
    (GC, FARM + "pig.webp", "mammal"),
    (GC, FARM + "sheep.webp", "mammal"),
    # birds
    (GC, ERASE + "gosling.webp", "bird"),
    (GC, ERASE + "heron.webp", "bird"),
    (GC, ERASE + "kingfisher.webp", "bird"),
    (GC, ERASE + "northern_harrier.webp", "bird"),
    (GC, ERASE + "penguin.webp", "bird"),
    (GC, ERASE + "spoonbills.webp", "bird"),
    (GC, ERASE + "swans.webp", "bird"),
    (GC, ERASE + "toucan.webp", "bird"),
    (GC, WORLD + "scarlet_macaw.webp", "bird"),
    (GC, FARM + "chicken.webp", "bird"),
    (GC, FARM + "duck.webp", "bird"),
    (GC, FARM + "owl.webp", "bird"),
    # fish (fish8 and fish17 are too thin for a square crop)
    *[(GC, CAT + f"fishes/fish{n}.webp", "fish") for n in range(1, 29) if n not in (8, 17)],
    # buildings and monuments
    (GC, MONU + "egypt/bentPyramid.webp", "building"),
    (GC, MONU + "egypt/greatPyramidOfGiza.webp", "building"),
    (GC, MONU + "egypt/meidumPyramid.webp", "building"),
    (GC, MONU + "egypt/redPyramid.webp", "building"),
    (GC, MONU + "france/arlesAmphitheater.webp", "building"),
    (GC, MONU + "france/chateaudeChambord.webp", "building"),
    (GC, MONU + "france/chateaudeChenonceau.webp", "building"),
    (GC, MONU + "france/citedeCarcassonne.webp", "building"),
    (GC, MONU + "france/eiffelTower.webp", "building"),
    (GC, MONU + "france/montStMichel.webp", "building"),
    (GC, MONU + "france/palaisdesPapes.webp", "building"),
    (GC, MONU + "france/pontduGard.webp", "building"),
    (GC, MONU + "france/reimsCathedral.webp", "building"),
    (GC, MONU + "france/rocamadour.webp", "building"),
    (GC, MONU + "germany/aulaPalatina.webp", "building"),
    (GC, MONU + "germany/berlinCathedral.webp", "building"),
    (GC, MONU + "germany/brandenburgGate.webp", "building"),
    (GC, MONU + "germany/neuschwansteinCastle.webp", "building"),
    (GC, MONU + "germany/schwerinPalace.webp", "building"),
    (GC, MONU + "germany/trierImperialBaths.webp", "building"),
    (GC, MONU + "germany/wormsCathedral.webp", "building"),
    (GC, MONU + "india/charminar.webp", "building"),
    (GC, MONU + "india/gatewayofIndia.webp", "building"),
    (GC, MONU + "india/goldenTemple.webp", "building"),
    (GC, MONU + "india/greatStupa.webp", "building"),
    (GC, MONU + "india/hawaMahal.webp", "building"),
    (GC, MONU + "india/konarkSunTemple.webp", "building"),
    (GC, MONU + "india/mysorePalace.webp", "building"),
    (GC, MONU + "india/qutubMinar.webp", "building"),
    (GC, MONU + "india/rangGhar.webp", "building"),
    (GC, MONU + "india/victoriaMemorial.webp", "building"),
    (GC, MONU + "usa/castillodeSanMarcos.webp", "building"),
    (GC, MONU + "usa/fortSumter.webp", "building"),
    (GC, MONU + "usa/georgeWashingtonBirthplace.webp", "building"),
    (GC, MONU + "usa/lincolnMemorial.webp", "building"),
    (GC, MONU + "wonders/chichenItza.webp", "building"),
    (GC, MONU + "wonders/colosseum.webp", "building"),
    (GC, MONU + "wonders/petra.webp", "building"),
    (GC, MONU + "wonders/tajMahal.webp", "building"),
    (GC, CAT + "monuments/IndiaGate.webp", "building"),
    (GC, CAT + "monuments/arcDeTriomphe.webp", "building"),
    (GC, CAT + "monuments/bayterek.webp", "building"),
    (GC, CAT + "monuments/burj.webp", "building"),
    (GC, CAT + "monuments/cathedral.webp", "building"),
    (GC, CAT + "monuments/eiffelTower.webp", "building"),
    (GC, CAT + "monuments/empireState.webp", "building"),
    (GC, CAT + "monuments/jucheTower.webp", "building"),
    (GC, CAT + "monuments/kutubMinar.webp", "building"),
    (GC, CAT + "monuments/leMusee.webp", "building"),
    (GC, CAT + "monuments/leaningTowerOfPisa.webp", "building"),
    (GC, CAT + "monuments/monument1.webp", "building"),
    (GC, CAT + "monuments/monument2.webp", "building"),
    (GC, CAT + "monuments/monument3.webp", "building"),
    (GC, CAT + "monuments/operaHouse.webp", "building"),
    (GC, CAT + "monuments/parthenon.webp", "building"),
    (GC, CAT + "monuments/tajMahal.webp", "building"),
    (GC, CAT + "monuments/usCapitol.webp", "building"),
    (GC, CAT + "monuments/zimniPalace.webp", "building"),
    (GC, DETAILS + "Chenonceau_background.webp", "building"),
    (GC, DETAILS + "EgeskovSlotSpejling_background.webp", "building"),
    (GC, DETAILS + "EilanDonanCastle_background.webp", "building"),
    (GC, DETAILS + "GizahPyramids_background.webp", "building"),
    (GC, DETAILS + "Louvre_2007_02_24_c_background.webp", "building"),
    (GC, DETAILS + "NDP_background.webp", "building"),
    (GC, DETAILS + "Nagoya_background.webp", "building"),
    (GC, DETAILS + "OperaSidney_background.webp", "building"),
    (GC, DETAILS + "TajMahal_background.webp", "building"),
    (GC, DETAILS + "TowerBridgeLondon_background.webp", "building"),
    # windmills (windmill6 is a wind turbine, left out)
    *[(GC, CAT + f"renewable/windmill{n}.webp", "windmill") for n in ("", 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 15)],
    (GC, DETAILS + "FanoeWindmill_background.webp", "windmill"),
    # landscapes: mountains, forest, lakes, sky
    (GC, MONU + "usa/canyondeChelly.webp", "landscape"),
    ("lomiri-wallpapers-16.04", LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg", "landscape"),
    ("lomiri-wallpapers-16.04", LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "landscape"),
    ("lomiri-wallpapers-16.04", LOMIRI + "life_by_Aitzol_Berasategi.jpg", "landscape"),
    ("lomiri-wallpapers-16.04", LOMIRI + "sunset_by_Aitzol_Berasategi.jpg", "landscape"),
    ("mate-backgrounds", MATE + "Dune.jpg", "landscape"),
    ("mate-backgrounds", MATE + "Storm.jpg", "landscape"),
    ("plasma-workspace-wallpapers", PLASMA + "BytheWater/contents/images/2560x1600.jpg", "landscape"),
    ("plasma-workspace-wallpapers", PLASMA + "ColdRipple/contents/images/2560x1600.jpg", "landscape"),
    ("plasma-workspace-wallpapers", PLASMA + "EveningGlow/contents/images/2560x1600.jpg", "landscape"),
    ("plasma-workspace-wallpapers", PLASMA + "Path/contents/images/2560x1600.jpg", "landscape"),
    ("plasma-workspace-wallpapers", PLASMA + "summer_1am/contents/images/2560x1600.jpg", "landscape"),
]

# Different photos of one monument share a group, so none is trained on while its twin is tested.
SAME_SUBJECT = {
    "eiffel-tower": [MONU + "france/eiffelTower.webp", CAT + "monuments/eiffelTower.webp"],
    "taj-mahal": [MONU + "wonders/tajMahal.webp", CAT + "monuments/tajMahal.webp", DETAILS + "TajMahal_background.webp"],
    "chenonceau": [MONU + "france/chateaudeChenonceau.webp", DETAILS + "Chenonceau_background.webp"],
    "qutub-minar": [MONU + "india/qutubMinar.webp", CAT + "monuments/kutubMinar.webp"],
    "sydney-opera": [CAT + "monuments/operaHouse.webp", DETAILS + "OperaSidney_background.webp"],
    "louvre": [CAT + "monuments/leMusee.webp", DETAILS + "Louvre_2007_02_24_c_background.webp"],
}

# Square crops as (side as a fraction of the photo's shorter side, x, y), x and y being where the
# square sits in the room left over (0 = left/top, 1 = right/bottom). Objects: the whole-height
# square first, then tighter ones that still hold the middle of the photo. Landscapes are
# scenes, so their crops may come from anywhere.
OBJECT_CROPS = [(1.0, .5, .5), (1.0, 0, 0), (1.0, 1, 1), (.8, .5, .5), (.8, .25, .25), (.8, .75, .75),
                (.8, .25, .75), (.8, .75, .25), (.65, .5, .5), (.65, .3, .5), (.65, .7, .5)]
SCENE_CROPS = [(1.0, .5, .5), (1.0, 0, 0), (1.0, 1, 1)] + [(.6, x, y) for y in (0, 1) for x in (0, .5, 1)] \
    + [(.4, x, y) for y in (0, .5, 1) for x in (0, .5, 1)]


# ---- reading the packages -------------------------------------------------------------------

def deb_path(package):
    """Downloads the package's .deb once (the version above, else whatever apt has)."""
    os.makedirs(DEBS, exist_ok=True)
    for name in sorted(os.listdir(DEBS)):
        if name.startswith(package + "_") and name.endswith(".deb"):
            return os.path.join(DEBS, name)
    want = f"{package}={PACKAGES[package]}"
    for attempt in (want, "update", want, package):
        if attempt == "update":
            subprocess.run((["sudo"] if os.geteuid() else []) + ["apt-get", "update", "-qq"], check=False)
            continue
        if subprocess.run(["apt-get", "download", "-qq", attempt], cwd=DEBS,
                          stderr=subprocess.DEVNULL).returncode == 0:
            if attempt == package:
                print(f"note: {want} is gone from apt, used its current version", file=sys.stderr)
            return deb_path(package)
    raise SystemExit(f"apt-get download {package} failed")


def read_members(package, wanted):
    """{path: bytes} of the wanted files in the package's data archive (no install)."""
    wanted, found = set(wanted), {}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb_path(package)], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as t:
            for m in t:
                path = m.name[2:] if m.name.startswith("./") else m.name
                if path in wanted and m.isfile():
                    found[path] = t.extractfile(m).read()
    if proc.returncode:
        raise SystemExit(f"dpkg-deb could not read {package}")
    missing = wanted - found.keys()
    if missing:
        raise SystemExit(f"{package}: not in the package: {sorted(missing)}")
    return found


def rcc_files(blob):
    """{path: bytes} of a Qt binary resource bundle (.rcc, format version 1-3)."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node = 22 if version >= 2 else 14
    files = {}

    def name(offset):
        (n,) = struct.unpack(">H", blob[names + offset:names + offset + 2])
        return blob[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

    def walk(index, prefix):
        at = tree + index * node
        name_offset, flags = struct.unpack(">IH", blob[at:at + 6])
        here = prefix + name(name_offset) if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", blob[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, here + "/" if index else "")
            return
        (offset,) = struct.unpack(">I", blob[at + 10:at + 14])
        (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
        raw = blob[data + offset + 4:data + offset + 4 + size]
        if flags & 1:  # zlib, after a 4-byte length
            raw = zlib.decompress(raw[4:])
        elif flags & 4:
            raise ValueError(f"{here}: zstd-compressed resources are not supported")
        files[here] = raw

    walk(0, "")
    return files


def load_photos():
    """{(package, path): encoded image file} of every photo in PHOTOS."""
    by_package = {}
    for package, path, _ in PHOTOS:
        by_package.setdefault(package, set()).add(path.split(":")[0])
    photos = {}
    for package, members in sorted(by_package.items()):
        blobs, bundles = read_members(package, members), {}
        for p, path, _ in PHOTOS:
            if p != package:
                continue
            outer, _, inner = path.partition(":")
            if inner and outer not in bundles:
                bundles[outer] = rcc_files(blobs[outer])
            photos[(package, path)] = bundles[outer][inner] if inner else blobs[outer]
    return photos


# ---- crops ----------------------------------------------------------------------------------

def short_name(package, path):
    """A file-name stem for a photo: the bundle and file for GCompris, the wallpaper's folder
    for Plasma (whose files are named by resolution), else the file."""
    outer, _, inner = path.partition(":")
    stem = os.path.splitext(os.path.basename(inner or outer))[0]
    if inner:
        stem = os.path.splitext(os.path.basename(outer))[0] + "-" + stem
    elif re.fullmatch(r"\d+x\d+", stem):
        stem = path.split("/")[-4]
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem.replace("_background", ""))


def crops(img, plan, count):
    """Up to `count` SIZE×SIZE crops of img, in plan order, skipping near-uniform ones."""
    out, short = [], min(img.size)
    for scale, fx, fy in plan:
        side = int(round(scale * short))
        if side < MIN_SIDE:
            continue
        x0 = int(round(fx * (img.width - side)))
        y0 = int(round(fy * (img.height - side)))
        crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((SIZE, SIZE), Image.LANCZOS)
        grey = np.asarray(crop.convert("L").resize((128, 128), Image.BILINEAR), np.float32)
        detail = (np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()) / 2
        if grey.std() < MIN_STD or detail < MIN_DETAIL:
            continue
        out.append(crop)
        if len(out) == count:
            break
    return out


def group_of(package, path):
    for name, paths in SAME_SUBJECT.items():
        if path in paths:
            return name
    return f"{package}/{path}"


def build():
    photos = load_photos()
    classes = sorted({label for _, _, label in PHOTOS})
    per_photo = {c: math.ceil(TARGET / sum(label == c for _, _, label in PHOTOS)) for c in classes}
    partial = OUT + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    manifest, names = [], set()
    for package, path, label in PHOTOS:
        name = short_name(package, path)
        assert (label, name) not in names, name
        names.add((label, name))
        plan = SCENE_CROPS if label == "landscape" else OBJECT_CROPS
        with Image.open(io.BytesIO(photos[(package, path)])) as im:
            got = crops(im.convert("RGB"), plan, per_photo[label])
        if not got:
            print(f"note: no usable crop from {package}/{path}", file=sys.stderr)
        os.makedirs(os.path.join(partial, label), exist_ok=True)
        for k, crop in enumerate(got):
            file = f"{label}/{name}_{k}.jpg"
            crop.save(os.path.join(partial, file), "JPEG", quality=92)
            manifest.append({"file": file, "label": label, "group": group_of(package, path)})
    with open(os.path.join(partial, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.rename(partial, OUT)
    return manifest


def summary(manifest):
    for c in sorted({e["label"] for e in manifest}):
        entries = [e for e in manifest if e["label"] == c]
        print(f"{c:10s} {len(entries):4d} images {len({e['group'] for e in entries}):3d} groups")
    print(f"photos: {len(manifest)} images -> {OUT}")


def main():
    path = os.path.join(OUT, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            summary(json.load(f))
        return
    summary(build())


if __name__ == "__main__":
    main()
