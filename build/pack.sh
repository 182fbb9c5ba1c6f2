#!/usr/bin/env bash
# Packs the packages integrators use into artifacts/packages:
#
#   ./build/pack.sh [dotnet pack arguments...]      e.g. ./build/pack.sh -p:Version=0.2.0
#
# Inference.Contracts (the messages), Inference.Orchestration (the state machine) and Inference.Testing (the harness,
# which depends on the other two). Every other project has IsPackable=false (Directory.Build.props).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

out="$repo_root/artifacts/packages"
mkdir -p "$out"
for project in src/Inference.Contracts src/Inference.Orchestration src/Inference.Testing; do
    echo "==> dotnet pack $project"
    dotnet pack "$project" -c Release -o "$out" "$@"
done
ls -1 "$out"
