#!/usr/bin/env bash
# Quantise + dequantise of a 4096x4096 float32 matrix, 2 threads: loftlab's kernels (Google
# Benchmark, BM_quant_roundtrip/<spec>/2) against the PyTorch argmin formulation of PEFT/LoftQ
# (bench/torch_quant.py, torch.set_num_threads(2)). Prints both rates and their ratio.
# Usage: LOFTLAB_BENCH=build/loftlab_bench bench/compare_quant.sh [spec ...]   (default: nf4)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${LOFTLAB_BENCH:-build/loftlab_bench}
py=/usr/bin/python3
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(nf4)
echo "load before: $(uptime | sed 's/.*load average/load average/')"
for spec in "${specs[@]}"; do
  ours=$("$bench" --benchmark_filter="^BM_quant_roundtrip/${spec}/2/" --benchmark_format=json \
         --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
         $py -c 'import json,sys; b=[x for x in json.load(sys.stdin)["benchmarks"] if x.get("aggregate_name")=="median"]; print(b[0]["bytes_per_second"]/1e9)')
  theirs=$($py bench/torch_quant.py --threads 2 --repeats 3 "$spec" | sed -n 's/.*gbps=//p')
  $py -c "print(f'${spec} 2 threads: loftlab {${ours}:.3f} GB/s, torch argmin {${theirs}:.4f} GB/s, ratio {${ours}/${theirs}:.0f}x')"
done
echo "load after: $(uptime | sed 's/.*load average/load average/')"
