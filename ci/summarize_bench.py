"""One line per benchmark summary in JSON-lines result files: the xpnet / PyTorch ratio, GFLOP/s
and fraction of the SGEMM peak, peak resident and GPU memory; the epoch runs' time and accuracy.

    python ci/summarize_bench.py [FILE ...]     # default: the newest file in benchmarks/results/

Lines that are not JSON (a log mixed in) are skipped.
"""
import glob
import json
import os
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "results")


def records(path):
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _mb(summary, key):
    value = summary.get(key)
    return f"{value / 2**20:.0f}" if isinstance(value, (int, float)) else "-"


def describe(s):
    if s.get("bench") == "epoch":
        return (f"epoch mnist-cnn x{s.get('epochs')}: wall s xpnet {s.get('xpnet_wall_s')} "
                f"torch {s.get('torch_wall_s')} (xpnet/torch {s.get('ratio_wall_xpnet_over_torch')}"
                f"), test accuracy xpnet {s.get('xpnet_test_accuracy')} torch "
                f"{s.get('torch_test_accuracy')}, peak RSS MiB xpnet {s.get('xpnet_peak_rss_mb')} "
                f"torch {s.get('torch_peak_rss_mb')}")
    if "xpnet_samples_per_s" not in s or "optimizer" not in s:
        return None            # e.g. the seed CNN's per-sample-loop line
    size = "".join(f" {k} {s[k]}" for k in ("seq_len",) if k in s)
    return (f"{s['bench']} batch {s['batch']}{size}: xpnet/torch {s.get('ratio_xpnet_over_torch')} "
            f"(xpnet {s['xpnet_samples_per_s']}/s {s.get('xpnet_gflops', '-')} GFLOP/s "
            f"{s.get('xpnet_fraction_of_sgemm_peak', '-')} of peak; torch "
            f"{s.get('torch_samples_per_s', '-')}/s {s.get('torch_gflops', '-')} GFLOP/s "
            f"{s.get('torch_fraction_of_sgemm_peak', '-')} of peak), peak RSS MiB xpnet "
            f"{s.get('xpnet_peak_rss_mb', '-')} torch {s.get('torch_peak_rss_mb', '-')}"
            + (f", GPU MiB ({s.get('precision', '?')}) allocated xpnet "
               f"{_mb(s, 'xpnet_gpu_peak_allocated_bytes')} torch "
               f"{_mb(s, 'torch_gpu_peak_allocated_bytes')}, reserved xpnet "
               f"{_mb(s, 'xpnet_gpu_peak_reserved_bytes')} torch "
               f"{_mb(s, 'torch_gpu_peak_reserved_bytes')}"
               if "xpnet_gpu_peak_allocated_bytes" in s else "")
            + (f", GPU reserved MiB xpnet {_mb(s, 'xpnet_gpu_peak_pool_bytes')} (older run)"
               if "xpnet_gpu_peak_pool_bytes" in s else ""))


def main(paths):
    if not paths:
        files = sorted(glob.glob(os.path.join(RESULTS, "*.jsonl")), key=os.path.getmtime)
        if not files:
            print(f"summarize_bench: no result files in {os.path.normpath(RESULTS)}",
                  file=sys.stderr)
            return 1
        paths = files[-1:]
    for path in paths:
        for record in records(path):
            if "provenance" in record:
                prov = record["provenance"]
                print(f"{os.path.basename(path)}: xpnet {prov.get('commit')}, "
                      f"{prov.get('cpu_model')}, BLAS {prov.get('blas_kernel')} (recorded later)")
            elif isinstance(record.get("environment"), dict) and \
                    "cpu_model" in record["environment"]:   # the older lines name neither
                env = record["environment"]
                print(f"{os.path.basename(path)}: xpnet {env.get('commit')} "
                      f"({env.get('xpnet_path')}), {env.get('cpu_model')}, BLAS "
                      f"{[b.get('architecture') for b in env.get('blas') or []]}, "
                      f"SGEMM peak {record.get('sgemm_peak_gflops')} GFLOP/s, "
                      f"processes {record.get('processes')}")
            elif record.get("summary"):
                line = describe(record)
                if line:
                    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
