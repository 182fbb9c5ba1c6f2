#!/usr/bin/env bash
# Kills the orchestrator and the worker with SIGKILL in the middle of a load, restarts them, and checks that
# every accepted request still ended and that the quota counted exactly what completed.
#
#   ./build/crash-check.sh [--requests 600] [--concurrency 16] [--redis-pause SECONDS]
#
# --redis-pause also freezes Redis (CLIENT PAUSE) for that long in the middle of the load: commands that time out
# on the client may still run once Redis wakes, which is where counting twice would show.
#
# Runs the three roles as separate processes on the test services of ./build/services.sh (started if needed), in
# a database, virtual host and Redis key prefix of their own, all removed afterwards. Prints the load generator's
# figures and the checks; exits 1 if a check fails. Takes about a minute on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=600
concurrency=16
redis_pause=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --requests) requests="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --redis-pause) redis_pause="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

./build/services.sh start >/dev/null
eval "$(./build/services.sh env)"
work="$(mktemp -d /tmp/inference-crash-check.XXXXXX)"
name="crash_check_$(date +%s)"
pg="postgresql://inference:inference@127.0.0.1:55432"
mgmt="http://127.0.0.1:55673/api"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  curl -sf -u inference:inference -X DELETE "$mgmt/vhosts/$name" >/dev/null || true
  redis-cli -p 56379 --scan --pattern "$name:*" | xargs -r redis-cli -p 56379 DEL >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> build"
dotnet publish src/Inference.Server -c Release -o "$work/server" -v quiet -nologo >/dev/null
dotnet build tests/Inference.LoadTest -c Release -v quiet -nologo >/dev/null

psql "$pg/postgres" -qc "CREATE DATABASE $name" >/dev/null
curl -sf -u inference:inference -X PUT "$mgmt/vhosts/$name" >/dev/null
curl -sf -u inference:inference -X PUT -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' "$mgmt/permissions/$name/inference" >/dev/null

export ConnectionStrings__RabbitMq="amqp://inference:inference@127.0.0.1:55672/$name"
export ConnectionStrings__Postgres="Host=127.0.0.1;Port=55432;Username=inference;Password=inference;Database=$name"
export ConnectionStrings__Redis="127.0.0.1:56379"
export Quota__KeyPrefix="$name" Dev__ApiKey=crash-check Database__ApplyMigrations=true
export Orchestration__DeadlineSweepInterval=00:00:01 Logging__LogLevel__Default=Warning

declare -A port=([api]=5300 [orchestrator]=5301 [worker]=5302)
declare -A pid
start() {
  "$work/server/Inference.Server" --role "$1" --urls "http://127.0.0.1:${port[$1]}" >>"$work/$1.log" 2>&1 &
  pid[$1]=$!
  pids+=("$!")
  disown "$!" # its death by SIGKILL is the point, not news
}
ready() { until curl -sf "http://127.0.0.1:${port[$1]}/health/ready" >/dev/null; do sleep 0.2; done; }
crash() {
  echo "    kill -9 $1 (pid ${pid[$1]}) at +$((SECONDS - t0)) s"
  kill -9 "${pid[$1]}"
  sleep "$2"
  start "$1"
}

echo "==> start api, orchestrator, worker ($name)"
for role in orchestrator worker api; do start "$role"; done
for role in orchestrator worker api; do ready "$role"; done

echo "==> load: $requests requests, concurrency $concurrency, with crashes"
t0=$SECONDS
dotnet artifacts/bin/Inference.LoadTest/release/Inference.LoadTest.dll --url "http://127.0.0.1:${port[api]}" \
  --key crash-check --requests "$requests" --concurrency "$concurrency" >"$work/load.txt" 2>&1 &
load=$!
pids+=("$load")
sleep 4; crash orchestrator 3
sleep 4; crash worker 3
sleep 3; crash orchestrator 2
if [[ "$redis_pause" -gt 0 ]]; then
  sleep 3
  echo "    redis paused for $redis_pause s at +$((SECONDS - t0)) s"
  redis-cli -p 56379 CLIENT PAUSE $((redis_pause * 1000)) ALL >/dev/null
fi
wait "$load"
sed 's/^/    /' "$work/load.txt"

echo "==> checks"
failed=0
check() {
  if [[ "$2" == "$3" ]]; then echo "    ok    $1: $2"; else echo "    FAIL  $1: $2, expected $3"; failed=1; fi
}
# Settling and releasing follow the final state; give the last ones a moment to land.
for _ in $(seq 50); do
  held=$(for key in $(redis-cli -p 56379 --scan --pattern "$name:quota:{dev}:reservation:*"); do
    redis-cli -p 56379 HGET "$key" state; done | grep -c '^reserved$' || true)
  [[ "$held" == 0 ]] && break
  sleep 0.2
done

rows=$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas")
completed=$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas WHERE current_state = 'Completed'")
unfinished=$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas WHERE current_state IN ('Submitted', 'QuotaReserved', 'Inferring')")
tokens=$(psql "$pg/$name" -Atc "SELECT coalesce(sum(prompt_tokens), 0) FROM inference_sagas WHERE current_state = 'Completed'")
charged=0
for day in $(redis-cli -p 56379 --scan --pattern "$name:quota:{dev}:day:*"); do
  charged=$((charged + $(redis-cli -p 56379 GET "$day")))
done
states=$(for key in $(redis-cli -p 56379 --scan --pattern "$name:quota:{dev}:reservation:*"); do
  redis-cli -p 56379 HGET "$key" state; done)
settled=$(grep -c '^settled$' <<<"$states" || true)
held=$(grep -c '^reserved$' <<<"$states" || true)
queued() {
  curl -sf -u inference:inference "$mgmt/queues/$name" | python3 -c \
    'import json, sys; print(sum(q.get("messages", 0) for q in json.load(sys.stdin) if not q["name"].endswith("_error")))'
}
# The management API's counts lag by up to its statistics interval (5 s).
for _ in $(seq 40); do queued=$(queued); [[ "$queued" == 0 ]] && break; sleep 0.25; done
errors=$(curl -sf -u inference:inference "$mgmt/queues/$name" | python3 -c \
  'import json, sys; print(" ".join(q["name"] for q in json.load(sys.stdin) if q["name"].endswith("_error")) or "none")')

check "requests stored" "$rows" "$requests"
if [[ "$redis_pause" -gt 0 ]]; then
  # A reservation that could not be decided in its 3.6 s fails its request (quota_unavailable): expected here.
  echo "    info  requests completed: $completed; failed: $(psql "$pg/$name" -Atc "SELECT coalesce(string_agg(error_code || ' ' || n, ', '), 'none') FROM (SELECT error_code, count(*) AS n FROM inference_sagas WHERE current_state = 'Failed' GROUP BY 1) f")"
else
  check "requests completed" "$completed" "$requests"
fi
check "requests unfinished" "$unfinished" 0
check "reservations settled" "$settled" "$completed"
check "reservations still held" "$held" 0
check "tokens charged in Redis = prompt tokens of completed requests" "$charged" "$tokens"
check "messages left in queues" "$queued" 0
if [[ "$redis_pause" -gt 0 && "$errors" == "inference-quota_error" ]]; then
  echo "    info  error queues: inference-quota_error (the reservations that faulted; their requests failed and released)"
else
  check "error queues" "$errors" none
fi
exit "$failed"
