#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and no network: unpack .gpu/payload.tar.xz (bench/gpu-payload.sh), make the Vulkan
# loader available, run bench/gpuRun.ts (Llama-2-7B-shaped fp16 models with random weights, WebGPU and CPU) under one
# deadline, and pack every result and log into $OUT/gpu-results.tar.gz (or ./gpu-results.tar.gz).
set -uo pipefail
cd "$(dirname "$0")/.."
DEADLINE=${GPU_DEADLINE_SECONDS:-450}
START=$(date +%s)
RESULTS=${OUT:-$PWD}/gpu-results
WORK=${GPU_WORK:-/tmp/subnet-search-gpu}
mkdir -p "$RESULTS" "$WORK"
exec > >(tee "$RESULTS/log.txt") 2>&1
python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/payload.tar.xz "$WORK"
# Only on a GPU machine: the Vulkan loader and GL libraries into / (never on a machine we keep).
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
  if ! ldconfig -p | grep -q libvulkan.so.1; then for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
  done
fi
nproc > "$RESULTS/cores.txt"; free -g > "$RESULTS/memory.txt"
export SUBNET_SEARCH_FIXTURES="$WORK/fixtures"
LEFT=$((DEADLINE - ($(date +%s) - START)))
"$WORK/node" "$WORK/bench/gpuRun.js" "$WORK" "$LEFT" "$WORK/bench/scaleWorker.js" "$WORK/fixtures/text/tinystories_valid_head.txt"
cp "$WORK/results.json" "$RESULTS/" 2>/dev/null
tar -C "$(dirname "$RESULTS")" -czf "${OUT:-$PWD}/gpu-results.tar.gz" "$(basename "$RESULTS")"
echo "done in $(($(date +%s) - START)) s"
