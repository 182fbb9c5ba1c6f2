#!/usr/bin/env bash
# Runs a benchmark and leaves its figures in artifacts/bench/NAME.json.
#
#   ./build/bench.sh NAME [options of that benchmark]      e.g. ./build/bench.sh pipeline --requests 100,300
#
# Makes sure the test services run (build/services.sh), builds in Release what NAME needs, then runs
# tests/Inference.Benchmarks with NAME. An unknown NAME lists the known ones and exits 2. docs/performance.md says what
# each benchmark measures and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A benchmarks=(
  [pipeline]="CPU, messages and commits per request through api, orchestrator and worker processes (about 2.5 minutes)"
  [webhooks]="deliveries per second from one orchestrator process to fast loopback receivers (about 1 minute)"
  [inference]="sentences/s of the model in-process and of the worker process through RabbitMQ, batched and not, in 3 rounds; worker RSS; decode tokens/s (about 6 minutes)"
  [quota]="reservations per second and ReserveAsync/SettleAsync latency of the Redis and in-process quota ledgers (about 1 minute)"
)

usage() {
  echo "usage: $0 NAME [options]" >&2
  echo "known benchmarks:" >&2
  for known in $(printf '%s\n' "${!benchmarks[@]}" | sort); do printf '  %-12s %s\n' "$known" "${benchmarks[$known]}" >&2; done
}

name="${1:-}"
if [[ -z "$name" || -z "${benchmarks[$name]+set}" ]]; then
  [[ -n "$name" ]] && echo "unknown benchmark: $name" >&2
  usage
  exit 2
fi
shift

out=artifacts/bench
mkdir -p "$out"

echo "==> test services"
./build/services.sh start
eval "$(./build/services.sh env)"

echo "==> build (Release)"
dotnet build tests/Inference.Benchmarks -c Release -v quiet -nologo
args=()
case "$name" in
  pipeline|webhooks|inference)
    # The roles run as the published server, as deployed; published beside the figures, replaced on every run.
    rm -rf "$out/server"
    dotnet publish src/Inference.Server -c Release -o "$out/server" -v quiet -nologo
    args=(--server "$out/server/Inference.Server")
    ;;
esac

dotnet artifacts/bin/Inference.Benchmarks/release/Inference.Benchmarks.dll "$name" --output "$out/$name.json" "${args[@]}" "$@"
