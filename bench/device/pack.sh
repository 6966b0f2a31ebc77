#!/bin/bash
# Packs what a bare GPU machine (the project's lent device: no node, no npm registry) needs to run
# moerig's CUDA checks into .dev/ (git-ignored through .git/info/exclude): node itself, the runtime
# node_modules (no dev tools, no GPU packages, no canvas), ggml's source of the pinned release for
# `npm run build:backend -- cuda --source`, and the synth vocabularies. About 38 MB; the device call
# carries [".dev", "dist", "build/native"] (64 MiB at most) and runs bench/device/run.sh.
# Run here after `npm install` (dist and build/native exist then); 1–2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" .dev
grep -qx '/.dev/' "$exclude" 2>/dev/null || echo '/.dev/' >>"$exclude"
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >.dev/node.xz
# runtime dependencies only; node-llama-cpp contributes its release info, not its 35 MB bundle
npm ls --omit=dev --all --parseable 2>/dev/null | sed "s|^$PWD/||" | grep '^node_modules/' |
  awk -F/ '{ print ($2 ~ /^@/) ? $1"/"$2"/"$3 : $1"/"$2 }' | sort -u |
  grep -v -E '^node_modules/(@node-llama-cpp/linux-x64-vulkan|@napi-rs/.*|node-llama-cpp|typescript|cmake-js|node-addon-api|node-api-headers)$' \
    >.dev/nm.list
ls node_modules/node-llama-cpp/package.json node_modules/node-llama-cpp/llama/*.json >>.dev/nm.list
tar cf - -T .dev/nm.list | xz -T0 -6 >.dev/nm.tar.xz
# ggml of the pinned release: the CMake project, headers, core and CPU sources, the CUDA backend
rm -rf .dev/src && mkdir -p .dev/src
git clone -q --no-checkout node_modules/node-llama-cpp/llama/gitRelease.bundle .dev/src/ggml-git
git -C .dev/src/ggml-git -c advice.detachedHead=false checkout -q HEAD -- ggml/CMakeLists.txt ggml/cmake \
  ggml/include ':(glob)ggml/src/*' ggml/src/ggml-cpu ggml/src/ggml-cuda
tar cJf .dev/ggml.tar.xz -C .dev/src/ggml-git ggml
rm -rf .dev/src
mkdir -p .dev/models
cp build/llama-src/models/ggml-vocab-deepseek-coder.gguf build/llama-src/models/ggml-vocab-deepseek-llm.gguf \
  build/llama-src/models/ggml-vocab-qwen2.gguf .dev/models/ 2>/dev/null || true
cp bench/device/run.sh .dev/
du -sh .dev .dev/*
