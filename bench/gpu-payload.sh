#!/usr/bin/env bash
# Builds .gpu/ (git-ignored) for bench/gpu.sh: one payload.tar.xz with the node binary, the bundled GPU runner and
# scale worker, onnxruntime-node's Linux x64 binaries and the two small fixtures the run reads; and the Vulkan
# loader's Debian packages, which GPU machines may lack. Run here, then carry .gpu to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
FIXTURES=${SUBNET_SEARCH_FIXTURES:-../shared/fixtures}
rm -rf .gpu && mkdir -p .gpu/stage/bench .gpu/stage/fixtures/llama2c .gpu/stage/fixtures/text .gpu/debs
for entry in gpuRun scaleWorker; do
  npx esbuild "bench/$entry.ts" --bundle --platform=node --format=cjs --target=node20 --external:onnxruntime-node --log-level=warning --outfile=".gpu/stage/bench/$entry.js"
done
cp "$(command -v node)" .gpu/stage/node
mkdir -p .gpu/stage/node_modules/onnxruntime-node/bin/napi-v6/linux
cp -r node_modules/onnxruntime-common .gpu/stage/node_modules/
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist .gpu/stage/node_modules/onnxruntime-node/
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 .gpu/stage/node_modules/onnxruntime-node/bin/napi-v6/linux/
cp "$FIXTURES/llama2c/tokenizer.bin" .gpu/stage/fixtures/llama2c/
cp "$FIXTURES/text/tinystories_valid_head.txt" .gpu/stage/fixtures/text/
tar -C .gpu/stage -cJf .gpu/payload.tar.xz .
rm -rf .gpu/stage
(cd .gpu/debs && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
du -sh .gpu
