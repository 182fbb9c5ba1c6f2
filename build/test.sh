#!/usr/bin/env bash
# The project's single test command (CI runs it through .ci/run):
#
#   ./build/test.sh [dotnet test arguments...]      e.g. ./build/test.sh --filter FullyQualifiedName~Queue
#
# The tests talk to real PostgreSQL, Redis and RabbitMQ, so first make sure those answer on
# loopback (build/services.sh reuses running ones and starts the rest, or passes through
# INFERENCE_TEST_* variables that point elsewhere), then build once and test the build.
#
# A full run (no arguments) then runs the short outage drill, ./build/crash-check.sh (about 2 to 3
# minutes), on that build. Any argument, such as --filter, skips the drill: a focused run is for a
# quick answer.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi

now() { date +%s; }
started=$(now)

# Passwords of external services may be real secrets; the local defaults are not, but treat
# every value alike so the log never shows one.
mask() { sed -E 's/(Password=)[^;]*/\1***/I; s#(://[^:/@]*:)[^@]*@#\1***@#'; }

echo "==> Test services"
./build/services.sh start || { echo "==> FAILED: test services did not come up (see above)" >&2; exit 1; }
eval "$(./build/services.sh env)"
for var in INFERENCE_TEST_POSTGRES INFERENCE_TEST_REDIS INFERENCE_TEST_RABBITMQ INFERENCE_TEST_RABBITMQ_MANAGEMENT; do
    printf '    %-35s %s\n' "$var" "$(printf '%s' "${!var}" | mask)"
done
services_done=$(now)

# Build separately (and test with --no-build) so a compile error is reported as such and not
# as a test failure, and so the summary can tell the two apart.
echo "==> dotnet build (Release)"
build_rc=0
dotnet build Inference.sln -c Release || build_rc=$?
build_done=$(now)

# The GPU flavour swaps ONNX Runtime's CPU package for Microsoft.ML.OnnxRuntime.Gpu.Linux (docs/models.md). It is
# built, not tested (no GPU here), into artifacts/gpu/, so its restore and outputs never mix with the CPU build's.
echo "==> dotnet build (Release, GPU flavour: -p:InferenceFlavour=gpu)"
gpu_rc=0
if ((build_rc == 0)); then
    dotnet build src/Inference.Server -c Release -p:InferenceFlavour=gpu || gpu_rc=$?
fi
gpu_done=$(now)

test_rc=0
if ((build_rc == 0)); then
    echo "==> dotnet test (Release) $*"
    dotnet test Inference.sln -c Release --no-build "$@" || test_rc=$?
fi
test_done=$(now)

# The drill needs the build and reuses it; a focused run skips it.
crash_rc=0
crash_state="skipped (arguments given)"
if ((build_rc != 0)); then
    crash_state="skipped (build failed)"
elif (($# == 0)); then
    echo "==> crash check (build/crash-check.sh, the short outage drill)"
    ./build/crash-check.sh --no-build || crash_rc=$?
    crash_state=$( ((crash_rc == 0)) && echo ok || echo "FAILED (exit $crash_rc)")
fi
crash_done=$(now)

echo
echo "==================== summary ===================="
printf '  services  %4ss  ok\n' "$((services_done - started))"
printf '  build     %4ss  %s\n' "$((build_done - services_done))" "$( ((build_rc == 0)) && echo ok || echo "FAILED (exit $build_rc)")"
if ((build_rc == 0)); then
    printf '  gpu build %4ss  %s\n' "$((gpu_done - build_done))" "$( ((gpu_rc == 0)) && echo ok || echo "FAILED (exit $gpu_rc)")"
    printf '  test      %4ss  %s\n' "$((test_done - gpu_done))" "$( ((test_rc == 0)) && echo ok || echo "FAILED (exit $test_rc)")"
else
    printf '  test         -  skipped (build failed)\n'
fi
if [[ $crash_state == skipped* ]]; then
    printf '  crash        -  %s\n' "$crash_state"
else
    printf '  crash     %4ss  %s\n' "$((crash_done - test_done))" "$crash_state"
fi
printf '  total     %4ss\n' "$((crash_done - started))"
echo "================================================="

if ((build_rc != 0)); then exit "$build_rc"; fi
if ((gpu_rc != 0)); then exit "$gpu_rc"; fi
if ((test_rc != 0)); then exit "$test_rc"; fi
exit "$crash_rc"
