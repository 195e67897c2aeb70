#!/usr/bin/env bash
# Builds vkattn (installing what it needs, scripts/build.sh) and draws the
# pictures the README shows into DIR (default docs/images/, which git
# ignores: the pictures are made on the machine, never committed):
#   attention-streaming.png  vkattn-heatmap: causal attention through a sliding
#                            window with 4 global keys (StreamingLLM)
#   attention-padding.png    vkattn-heatmap: no causal mask; key length 112 of
#                            128 and a boolean key mask, two heads sharing K/V
#   attention-alibi.png      vkattn-heatmap: ALiBi's distance penalty on random Q, K
#   roofline.svg             vkattn-bench --plot: a quick selection of the bench
#                            cases on the CPU and every Vulkan device, against
#                            the roofs measured in the same run
#   approx-cpu.svg           vkattn-approx --plot: linear attention's error and
#                            time against exact attention on the CPU, S = 1k
#                            to 16k (docs/APPROXIMATE.md has the 1k-64k run)
#   approx-noncausal-cpu.svg the same without causal masking, Linformer (256
#                            mean-pooled keys) included, S = 512 to 8k
#
#   scripts/pictures.sh [DIR]
#
# Drawing takes 1-3 minutes here, nearly all of it the bench run (README.md's
# figure too); a build from scratch comes on top.
#
# VKATTN_BUILD_DIR=DIR draws with an existing build there instead of building
# into build/; VKATTN_PICTURES_BACKEND (all, cpu or vulkan; default all) and
# VKATTN_PICTURES_FILTER (a vkattn-bench --filter) choose the bench run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images}
if [ -n "${VKATTN_BUILD_DIR:-}" ]; then
  build=$VKATTN_BUILD_DIR
else
  scripts/build.sh
  build=build
fi
heatmap=$build/samples/vkattn-heatmap
bench=$build/bench/vkattn-bench
for tool in "$heatmap" "$bench"; do
  if [ ! -x "$tool" ]; then
    echo "pictures: $tool is not built (vkattn-heatmap needs libpng: scripts/install-deps.sh installs libpng-dev)" >&2
    exit 1
  fi
done
mkdir -p "$out"

# Each picture's rows are checked against the library's LSE (exit 1 if a
# row's weights do not sum to 1).
"$heatmap" --out "$out/attention-streaming.png" --q-len 96 --kv-len 128 --causal=bottom-right --window 24,0 \
  --global-keys 4
"$heatmap" --out "$out/attention-padding.png" --q-len 96 --kv-len 128 --heads 2 --kv-heads 1 --head 1 \
  --kv-len-valid 112 --bool-mask keys:0.1
"$heatmap" --out "$out/attention-alibi.png" --q-len 128 --kv-len 128 --heads 8 --head 3 --causal=bottom-right \
  --alibi --inputs random
echo "pictures: wrote $out/attention-streaming.png, attention-padding.png and attention-alibi.png"

# A compute-bound causal prefill, cross attention, and memory-bound decodes
# over f16 and q8_0 caches: both sides of every ridge. A case that a slow
# device would take over 2 s a run for is listed as skipped.
filter=${VKATTN_PICTURES_FILTER:-prefill_h8_s512_d64_causal,cross,decode_q1_kv1024,decode_q1_kv4096_h32x8_d128_q8_0}
status=0
"$bench" --quiet --backend "${VKATTN_PICTURES_BACKEND:-all}" --filter "$filter" --case-seconds 2 \
  --plot "$out/roofline.svg" || status=$?
if [ "$status" -ne 0 ]; then
  # vkattn-bench exits 1 when a case's output missed the reference (WRONG in
  # its table and on the plot, which is still drawn) or when it could not
  # write the plot (its message above): no "wrote" line for it either way.
  echo "pictures: vkattn-bench exited $status (a WRONG result or an error above)" >&2
  exit "$status"
fi
echo "pictures: wrote $out/roofline.svg"

"$build/samples/vkattn-approx" --backend cpu --sizes 1024,2048,4096,8192,16384 --plot "$out/approx-cpu.svg" > /dev/null
echo "pictures: wrote $out/approx-cpu.svg"
"$build/samples/vkattn-approx" --backend cpu --causal=none --sizes 512,1024,2048,4096,8192 \
  --plot "$out/approx-noncausal-cpu.svg" > /dev/null
echo "pictures: wrote $out/approx-noncausal-cpu.svg"
