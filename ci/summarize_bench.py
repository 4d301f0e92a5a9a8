"""One line per benchmark summary of a JSON-lines file: the ratio and the peak GPU memory."""
import json
import sys

for line in open(sys.argv[1]):
    if '"summary"' not in line:
        continue
    s = json.loads(line)
    peak_ours = s.get("xpnet_gpu_peak_pool_bytes", 0) / 2**20
    peak_theirs = s.get("torch_gpu_peak_allocated_bytes", 0) / 2**20
    print(f"{s['bench']} batch {s['batch']}: xpnet/torch {s.get('ratio_xpnet_over_torch')} "
          f"(xpnet {s['xpnet_samples_per_s']}/s), peak MiB xpnet {peak_ours:.0f} "
          f"torch {peak_theirs:.0f}")
