"""What the load-time manifest check (fairseq_salign/data/manifest_check.py) adds to start-up.

A synthetic 250k-row manifest (MuST-C-like text lengths) pointing into one sparse 20 GB zip
with a real ``.npy`` header at every member's offset; median of 5 runs each of: fairseq's own
manifest reader (what loading cost before), our reader (the same csv settings plus line numbers)
and the row check (one stat per referenced file, one header read per row). ``--cold``: also the
check with the page cache dropped before each run (needs root), as on a first start.

    PYTHONPATH=. python benchmarks/manifest_check_cost.py [--rows 250000] [--repeats 5] [--cold]

Figures and the machine they were measured on: docs/faults.md, "Cost of the manifest check".
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def write_manifest(root: Path, rows: int) -> Path:
    zip_size = 20 * 2**30
    import io

    import numpy as np

    def header(n_frames: int) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<f4", "fortran_order": False, "shape": (n_frames, 80)})
        return buf.getvalue()  # magic, version, header length, header

    step = zip_size // (rows + 1)
    with open(root / "fbank80.zip", "wb") as f:
        f.truncate(zip_size)  # sparse: only the headers' blocks use disk
        for i in range(rows):
            f.seek(i * step)
            f.write(header(500 + i % 900))
    src = "and so I went back to the lab and we started measuring it again " * 2
    tgt = "und so ging ich zurück ins Labor und wir begannen es erneut zu messen " * 2
    path = root / "train_st.tsv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\taudio\tn_frames\tsrc_text\ttgt_text\tspeaker\n")
        for i in range(rows):
            f.write(f"ted_{i // 100}_{i % 100}\tfbank80.zip:{i * step}:{step // 2}\t{500 + i % 900}"
                    f"\t{src}{i}\t{tgt}{i}\tspk.{i // 100}\n")
    return path


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="also time the check on a cold page cache")
    args = parser.parse_args()
    from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDatasetCreator

    from fairseq_salign.data.manifest_check import check_rows, read_manifest

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_manifest(root, args.rows)
        rows, lines = read_manifest(path)
        fairseq_read = median_seconds(lambda: SpeechToTextDatasetCreator._load_samples_from_tsv(tmp, "train_st"), args.repeats)
        our_read = median_seconds(lambda: read_manifest(path), args.repeats)
        run = lambda: check_rows(path, rows, lines, audio_root=tmp,  # noqa: E731
                                 texts=("src_text", "tgt_text"), is_train=True)
        check = median_seconds(run, args.repeats)
        cold = None
        if args.cold:
            def dropped():
                os.sync()
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
                start = time.perf_counter()
                run()
                return time.perf_counter() - start
            cold = statistics.median(dropped() for _ in range(args.repeats))
    print(f"{args.rows} rows, median of {args.repeats}:")
    print(f"  fairseq's manifest reader        {fairseq_read:6.2f} s")
    print(f"  read_manifest (+ line numbers)   {our_read:6.2f} s")
    print(f"  check_rows (audio, ids, texts)   {check:6.2f} s")
    if cold is not None:
        print(f"  check_rows, page cache dropped   {cold:6.2f} s")
    print(f"  added at start-up                {our_read - fairseq_read + check:6.2f} s")


if __name__ == "__main__":
    main()
