#!/usr/bin/env bash
# The outage drill. Runs one API, two orchestrators and two workers as separate processes, drives a load through the
# API with tests/Inference.LoadTest (a share of it hostile inputs), and meanwhile kills orchestrators and workers with
# SIGKILL four times (and restarts them), restarts PostgreSQL and restarts RabbitMQ (through ./build/services.sh). A share
# of the requests is canceled by its client at a random moment, another is sent with a short Cancel-After; a subscriber
# of the drill's own records every outcome event the platform publishes.
# Like a supervisor, it also restarts any process that exits by itself. Then checks what a client and an operator
# must be able to rely on, prints each check, and exits 1 if any fails.
#
#   ./build/crash-check.sh [--long] [--requests N] [--concurrency 16] [--bad-inputs 0.1] [--redis-pause SECONDS]
#                          [--cancel-share 0.2] [--cancel-after-share 0.1] [--port-base 5310] [--no-build]
#
#   --long          sends 2000 requests instead of 600, and also kills an orchestrator and a worker once more, stops
#                   PostgreSQL for 30 s and restarts it once more
#   --bad-inputs    share of the requests that carry a hostile input (NUL, another control character, a lone
#                   surrogate, bytes that are not UTF-8); each must be answered 400 with its code. 0 sends none.
#   --cancel-share  share of the requests that their client cancels (POST .../cancel) 0 to 2.5 s after the 202; every
#                   answer is acceptable (200, 409 inference_final, 404 or 503 during an outage) and counted
#   --cancel-after-share  share of the requests sent with a Cancel-After of 1 to 3 s: some end canceled with
#                   cancel_after_elapsed, the others complete first
#   --redis-pause   also freezes Redis (CLIENT PAUSE) for that long in the middle of the load
#   --port-base     the five processes listen on this port and the four after it
#   --no-build      use the Release build already in artifacts/ (./build/test.sh has just made it)
#   --keep-logs DIR copy the processes' logs and the load report to DIR before cleaning up
#
# The services are a second set of ./build/services.sh's, in /tmp/inference-drill-services on ports offset by 1000
# (PostgreSQL 56432, Redis 57379, RabbitMQ 56672, management 56673), never the shared test services: restarting those
# would fail whatever tests other checkouts run at that moment. They are started if needed and left running for the
# next drill. Each run has a database, virtual host and Redis key prefix of its own, removed afterwards.
#
# The checks: every request answered 202 is final and readable, and none was ever answered 404; no client saw a 5xx
# other than 503 `unavailable`, nor a connection failure; hostile inputs were refused with their codes; no request was
# canceled that nobody asked to cancel, and every cancel answered 200 ended canceled; every request in the database is
# final; nothing is left reserved in Redis (tokens or concurrency slots), and Redis and the usage ledger both charged exactly the
# tokens of the completed requests (canceled and
# failed ones charge nothing); every final request published exactly one outcome event (deduplicated by MessageId;
# redeliveries are counted), of the type of its state, and no event names an unknown id; the queues drained and the
# error queues are empty. The short run takes about 3 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

long=false
requests=""
concurrency=16
bad_inputs=0.1
cancel_share=0.2
cancel_after_share=0.1
redis_pause=0
port_base=5310
build=true
keep_logs=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --long) long=true; shift ;;
    --keep-logs) keep_logs="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --bad-inputs) bad_inputs="$2"; shift 2 ;;
    --cancel-share) cancel_share="$2"; shift 2 ;;
    --cancel-after-share) cancel_after_share="$2"; shift 2 ;;
    --redis-pause) redis_pause="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    --no-build) build=false; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z $requests ]]; then
  if $long; then requests=2000; else requests=600; fi
fi
# How long, after the load, every accepted request gets to become final. A healthy system needs seconds.
if $long; then final_timeout=60; else final_timeout=30; fi
# How long a client follows its request before it sends the next one; whatever is not final by then is read again at
# the end. Short, so that requests that never end do not hold the clients and thin out the load.
follow_timeout=15

# Our own set of services, whatever the caller's INFERENCE_TEST_* variables point at (./build/test.sh exports the
# shared ones): those would count as external, and external services are never restarted.
drill_services=(env -u INFERENCE_TEST_POSTGRES -u INFERENCE_TEST_REDIS -u INFERENCE_TEST_RABBITMQ
  -u INFERENCE_TEST_RABBITMQ_MANAGEMENT INFERENCE_SERVICES_DIR=/tmp/inference-drill-services INFERENCE_SERVICES_PORT_OFFSET=1000)
# Nothing started here may inherit the drill's lock (fd 8): a daemon would hold it after the drill ends.
services() { "${drill_services[@]}" ./build/services.sh "$@" 8>&-; }
pg_port=56432
redis_port=57379
rabbit_port=56672
mgmt="http://127.0.0.1:56673/api"
pg="postgresql://inference:inference@127.0.0.1:$pg_port"
redis() { redis-cli -p "$redis_port" "$@"; }

started_at=$SECONDS
work="$(mktemp -d /tmp/inference-crash-check.XXXXXX)"
name="crash_check_$(date +%s)"
declare -A port pid planned started
names=(orchestrator-1 orchestrator-2 worker-1 worker-2 api)
i=0
for n in api orchestrator-1 orchestrator-2 worker-1 worker-2; do port[$n]=$((port_base + i)); i=$((i + 1)); done
load=""
subscriber=""
outages=false

cleanup() {
  for n in "${names[@]}"; do [[ -n ${pid[$n]:-} ]] && kill -9 "${pid[$n]}" 2>/dev/null || true; done
  [[ -n $load ]] && kill -9 "$load" 2>/dev/null || true
  [[ -n $subscriber ]] && kill -9 "$subscriber" 2>/dev/null || true
  # An interrupted drill may have left a service stopped.
  if $outages; then services start >/dev/null 2>&1 || true; fi
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  curl -sf -u inference:inference -X DELETE "$mgmt/vhosts/$name" >/dev/null || true
  redis --scan --pattern "$name:*" | xargs -r redis-cli -p "$redis_port" DEL >/dev/null || true
  if [[ -n $keep_logs ]]; then mkdir -p "$keep_logs" && cp "$work"/*.log "$work"/*.json "$work"/*.tsv "$keep_logs"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if $build; then
  echo "==> build"
  dotnet build src/Inference.Server -c Release -v quiet -nologo >/dev/null
  dotnet build tests/Inference.LoadTest -c Release -v quiet -nologo >/dev/null
fi
# A copy, so that a build during the drill cannot change the binaries under the running processes.
dotnet publish src/Inference.Server -c Release --no-build -o "$work/server" -v quiet -nologo >/dev/null
loadtest=artifacts/bin/Inference.LoadTest/release/Inference.LoadTest.dll
[[ -f $loadtest ]] || { echo "no $loadtest: build first, or drop --no-build" >&2; exit 1; }

# One drill at a time: two would restart each other's services. Taken after the build, whose compiler servers outlive it.
exec 8>/tmp/inference-drill.lock
flock -w 900 8 || { echo "another drill has held /tmp/inference-drill.lock for 15 minutes" >&2; exit 1; }

built_at=$SECONDS
echo "==> services (second set, /tmp/inference-drill-services)"
services start 2>&1 | sed 's/^/    /'
for n in "${names[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port[$n]}") 2>/dev/null; then
    echo "port ${port[$n]} (for $n) is taken; choose others with --port-base" >&2
    exit 1
  fi
done

psql "$pg/postgres" -qc "CREATE DATABASE $name" >/dev/null
curl -sf -u inference:inference -X PUT "$mgmt/vhosts/$name" >/dev/null
curl -sf -u inference:inference -X PUT -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' "$mgmt/permissions/$name/inference" >/dev/null

export ConnectionStrings__RabbitMq="amqp://inference:inference@127.0.0.1:$rabbit_port/$name"
export ConnectionStrings__Postgres="Host=127.0.0.1;Port=$pg_port;Username=inference;Password=inference;Database=$name"
export ConnectionStrings__Redis="127.0.0.1:$redis_port"
export Quotas__KeyPrefix="$name" Dev__ApiKey=crash-check Database__ApplyMigrations=true
export Orchestration__DeadlineSweepInterval=00:00:01 Logging__LogLevel__Default=Warning
# Two models and two orchestrators share two cores: a worker that takes them all starves the rest.
export Engine__IntraOpThreads=1

t0=$SECONDS
at() { echo "+$((SECONDS - t0)) s"; }

start() {
  "$work/server/Inference.Server" --role "${1%-*}" --urls "http://127.0.0.1:${port[$1]}" >>"$work/$1.log" 2>&1 8>&- &
  pid[$1]=$!
  planned[$1]=up
  started[$1]=$SECONDS
  disown "$!" # its death by SIGKILL is the point, not news
}

alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

# What a supervisor (systemd, Kubernetes) would do: a process that exits by itself is started again, at most every
# 5 s (one that cannot start while PostgreSQL is down would otherwise be restarted in a tight loop). Said, and counted.
unplanned=0
supervise() {
  local n
  for n in "${names[@]}"; do
    if [[ ${planned[$n]:-} == up ]] && ((SECONDS - started[$n] >= 5)) && ! alive "${pid[$n]}"; then
      echo "    $(at)  $n (pid ${pid[$n]}) exited by itself; started again (its log: last lines below if a check fails)"
      unplanned=$((unplanned + 1))
      start "$n"
    fi
  done
}

# Sleeps while supervising.
pause() {
  local until=$((SECONDS + $1))
  while ((SECONDS < until)); do supervise; sleep 0.5; done
}

crash() {
  echo "    $(at)  kill -9 $1 (pid ${pid[$1]}), back after $2 s"
  planned[$1]=down
  kill -9 "${pid[$1]}"
  pause "$2"
  start "$1"
}

# Runs a services.sh command in the background, supervising until it returns.
service() {
  local began=$SECONDS job rc=0
  services "$@" >>"$work/services.log" 2>&1 &
  job=$!
  while alive "$job"; do supervise; sleep 0.5; done
  wait "$job" || rc=$?
  ((rc == 0)) || { echo "    services.sh $* failed:"; tail -n 20 "$work/services.log"; exit 1; }
  echo "    $(at)  services.sh $* ($((SECONDS - began)) s)"
}

ready() {
  local deadline=$((SECONDS + 120))
  until curl -sf "http://127.0.0.1:${port[$1]}/health/ready" >/dev/null; do
    if ((SECONDS > deadline)) || ! alive "${pid[$1]}"; then
      echo "$1 did not become ready; its log:" >&2
      tail -n 40 "$work/$1.log" >&2
      exit 1
    fi
    sleep 0.5
  done
}

services_at=$SECONDS
echo "==> start api, 2 orchestrators, 2 workers ($name, ports ${port[api]}-$((port_base + 4)))"
start orchestrator-1
ready orchestrator-1 # migrates the database before the others look for it
for n in orchestrator-2 worker-1 worker-2 api; do start "$n"; done
for n in "${names[@]}"; do ready "$n"; done

# The drill's own subscriber of the outcome events, on a durable queue of its own: it stays up through the outages
# (MassTransit reconnects; what is published meanwhile waits in its queue) and writes one line per delivery.
dotnet "$loadtest" subscribe --rabbitmq "$ConnectionStrings__RabbitMq" --queue crash-check-outcomes \
  --out "$work/outcomes.tsv" >"$work/subscriber.log" 2>&1 8>&- &
subscriber=$!
deadline=$((SECONDS + 60))
until grep -q '^subscribed' "$work/subscriber.log"; do
  if ((SECONDS > deadline)) || ! alive "$subscriber"; then
    echo "the outcome subscriber did not start; its log:" >&2
    tail -n 40 "$work/subscriber.log" >&2
    exit 1
  fi
  sleep 0.5
done

processes_at=$SECONDS
echo "==> load: $requests requests, concurrency $concurrency, hostile inputs $bad_inputs, canceled $cancel_share," \
  "Cancel-After $cancel_after_share, with outages"
t0=$SECONDS
dotnet "$loadtest" --url "http://127.0.0.1:${port[api]}" --key crash-check --requests "$requests" \
  --concurrency "$concurrency" --bad-inputs "$bad_inputs" --cancel-share "$cancel_share" \
  --cancel-after-share "$cancel_after_share" --report "$work/load.json" \
  --follow-timeout "$follow_timeout" --final-timeout "$final_timeout" >"$work/load.txt" 2>&1 8>&- &
load=$!
outages=true

pause 4; crash orchestrator-1 3
pause 2; crash worker-1 3
pause 2; service restart postgres
pause 4; crash orchestrator-2 2
pause 2; service restart rabbitmq
pause 3; crash worker-2 3
if $long; then
  pause 5; crash orchestrator-1 2
  pause 10
  echo "    $(at)  PostgreSQL stopped for 30 s"
  service stop postgres
  pause 30
  service start postgres
  pause 5; crash worker-1 3
  pause 5; service restart postgres
fi
if ((redis_pause > 0)); then
  pause 3
  echo "    $(at)  Redis paused for $redis_pause s"
  redis CLIENT PAUSE $((redis_pause * 1000)) ALL >/dev/null
  pause "$redis_pause"
fi
last_outage=$((SECONDS - t0))
while alive "$load"; do supervise; sleep 0.5; done
load_rc=0
wait "$load" || load_rc=$?
echo "    $(at)  load and final reads done"
sed 's/^/    /' "$work/load.txt"
((load_rc == 0)) || { echo "the load generator failed (exit $load_rc)"; exit 1; }

load_at=$SECONDS
echo "==> checks"
failed=0
check() { # check <what> <seen> <expected> [detail]
  if [[ "$2" == "$3" ]]; then
    echo "    ok    $1: $2${4:+ ($4)}"
  else
    echo "    FAIL  $1: $2, expected $3${4:+ ($4)}"
    failed=1
  fi
}
report() { python3 -c "import json, sys; r = json.load(open('$work/load.json')); print($1)"; }
counts='lambda d: ", ".join(f"{k}: {v}" for k, v in d.items()) or "none"'

# Settling and releasing follow the final state, and settlements retry through outages: let them land.
# One redis-cli for all the keys: one per key takes minutes with thousands of requests.
held_reservations() {
  redis --scan --pattern "$name:quota:{dev}:reservation:*" | sed 's/^/HGET /; s/$/ state/' | redis | grep -c '^reserved$' || true
}
queued() {
  curl -sf -u inference:inference "$mgmt/queues/$name" | python3 -c \
    'import json, sys; print(sum(q.get("messages", 0) for q in json.load(sys.stdin) if not q["name"].endswith("_error")))'
}
# The management API's counts lag by up to its statistics interval (5 s).
waited_from=$SECONDS
for _ in $(seq 60); do
  held=$(held_reservations)
  queued=$(queued)
  [[ $held == 0 && $queued == 0 ]] && break
  sleep 0.5
done

# The outcome events: the subscriber has written every final request's by now, unless one is missing; give stragglers
# (a message the outbox sweeper sends late) up to 20 s, then a second for duplicates, and stop it.
settled_after=$((SECONDS - waited_from))
waited_from=$SECONDS
subscriber_up=$(alive "$subscriber" && echo yes || echo no)
rows() { psql "$pg/$name" -At -F $'\t' -c "SELECT correlation_id, current_state, coalesce(error_code, '') FROM inference_sagas" >"$work/rows.tsv"; }
outcomes() { touch "$work/outcomes.tsv"; ./build/check-outcomes.py "$work/rows.tsv" "$work/outcomes.tsv" --json "$work/outcomes.json" >"$work/outcomes.txt"; }
for _ in $(seq 40); do
  rows && outcomes
  [[ $(python3 -c "import json; print(len(json.load(open('$work/outcomes.json'))['missing']))") == 0 ]] && break
  sleep 0.5
done
sleep 1
kill -TERM "$subscriber" 2>/dev/null || true
for _ in $(seq 20); do alive "$subscriber" || break; sleep 0.5; done
subscriber=""
rows && outcomes
outcomes_after=$((SECONDS - waited_from))

# The submissions must outlast the outages, or the drill proves nothing about them.
submitted_until=$(report 'int(r["elapsed_seconds"])')
check "outages under load: submissions went on after the last outage" "$( ((submitted_until >= last_outage)) && echo yes || echo no)" yes \
  "submissions until +$submitted_until s, last outage over at +$last_outage s"
accepted=$(report 'r["accepted"]["count"]')
check "requests answered 202 that are final and readable" "$(report 'r["accepted"]["final_and_readable"]')" "$accepted" \
  "$(report "($counts)(r['accepted']['final_by_status'])"); not final: $(report 'len(r["accepted"]["not_final"])'); unreadable: $(report 'len(r["accepted"]["unreadable"])')"
check "requests answered 404 after their 202" "$(report 'len(r["accepted"]["not_found_after_accepted"])')" 0
check "5xx other than 503 unavailable" "$(report "($counts)(r['other_server_errors'])")" none
check "connection failures and client timeouts" "$(report "($counts)(r['connection_errors'])")" none
echo "    info  503 unavailable answers retried: $(report 'r["retried_503"]'); GET errors retried: $(report "($counts)(r['get_errors'])")"
if [[ $(report 'r["bad_inputs"]["sent"]') != 0 ]]; then
  check "hostile inputs refused with 400 and their code" "$(report 'r["bad_inputs"]["as_expected"]')" "$(report 'r["bad_inputs"]["sent"]')" \
    "mismatches: $(report "($counts)(r['bad_inputs']['mismatches'])")"
fi

# The cancel and outcome figures, read in one go (a python3 per figure costs seconds on a loaded machine).
eval "$(python3 - "$work/load.json" "$work/outcomes.json" <<'PY'
import json, shlex, sys
r, o = (json.load(open(path)) for path in sys.argv[1:3])
counts = lambda d: ", ".join(f"{k}: {v}" for k, v in d.items()) or "none"
c = r["cancels"]
figures = {
    "cancels": c["sent"], "cancel_after_sent": c["cancel_after_sent"], "cancel_answers": counts(c["answers"]),
    "cancel_answers_other": counts({k: v for k, v in c["answers"].items() if not (k.startswith("200") or k.split(" ")[0] in ("409", "404", "503"))}),
    "cancel_200_not_canceled": len(c["answered_200_not_canceled"]), "canceled_unasked": len(c["canceled_unasked"]),
    "canceled_by_reason": counts({k: v for k, v in r["accepted"]["final_by_status"].items() if k.startswith("canceled")}),
    "final_by_status": counts(r["accepted"]["final_by_status"]),
    "outcome_exactly_one": o["exactly_one"], "outcome_final_rows": o["final_rows"], "outcome_types": counts(o["messages_by_type"]),
    "outcome_missing": len(o["missing"]), "outcome_wrong_type": len(o["wrong_type"]),
    "outcome_several": len(o["several"]), "outcome_several_ids": "; ".join(f"{i}: {m}" for i, m in list(o["several"].items())[:3]) or "none",
    "outcome_stray": len(o["not_final_with_outcome"]) + len(o["unknown"]) + len(o["conflicting_message_ids"]),
    "outcome_stray_ids": ", ".join((o["not_final_with_outcome"] + o["unknown"] + [f"MessageId {m}" for m in o["conflicting_message_ids"]])[:3]) or "none",
    "outcome_deliveries": o["deliveries"], "outcome_messages": o["messages"], "outcome_redeliveries": o["redeliveries"],
    "outcome_redelivered_messages": o["redelivered_messages"], "outcome_broker_redeliveries": o["broker_redeliveries"],
}
for k, v in figures.items():
    print(f"{k}={shlex.quote(str(v))}")
PY
)"
if [[ $cancels != 0 || $cancel_after_sent != 0 ]]; then
  check "cancel answers other than 200, 409 inference_final, 404 or 503 unavailable" "$cancel_answers_other" none \
    "$cancels cancels sent: $cancel_answers"
  check "cancels answered 200 whose request did not end canceled" "$cancel_200_not_canceled" 0
  check "requests canceled that nobody asked to cancel" "$canceled_unasked" 0 \
    "canceled requests by reason: $canceled_by_reason, of $cancel_after_sent sent with Cancel-After"
fi
check "requests stored, one per submission answered 202 (Idempotency-Key on every attempt)" \
  "$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas")" "$accepted"
check "requests in the database that are not final" "$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas WHERE current_state NOT IN ('Completed', 'Failed', 'Canceled')")" 0
check "reservations still held in Redis" "$held" 0
tokens=$(psql "$pg/$name" -Atc "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM inference_sagas WHERE current_state = 'Completed'")
charged=0 reserved=0
for day in $(redis --scan --pattern "$name:quota:{dev}:window:day:*"); do
  charged=$((charged + $(redis HGET "$day" used))); reserved=$((reserved + $(redis HGET "$day" reserved)))
done
check "tokens charged in Redis = tokens of the completed requests" "$charged" "$tokens" \
  "the clients read $(report 'r["accepted"]["completed_tokens"]') for the completed requests they were answered 202 for"
check "tokens still reserved in Redis's day windows" "$reserved" 0
check "concurrency slots still taken in Redis" "$(redis ZCARD "$name:quota:{dev}:slots")" 0
check "tokens in the usage ledger = tokens of the completed requests" \
  "$(psql "$pg/$name" -Atc "SELECT coalesce(sum(total_tokens), 0) FROM usage_records")" "$tokens"
check "usage ledger rows, one per completed request that used tokens" \
  "$(psql "$pg/$name" -Atc "SELECT count(*) FROM usage_records")" \
  "$(psql "$pg/$name" -Atc "SELECT count(*) FROM inference_sagas WHERE current_state = 'Completed' AND prompt_tokens + completion_tokens > 0")"
check "outcome subscriber stayed up through the outages" "$subscriber_up" yes
check "final requests with exactly one outcome event, of their state's type" "$outcome_exactly_one" "$outcome_final_rows" \
  "events: $outcome_types; no event: $outcome_missing; wrong type: $outcome_wrong_type"
check "final requests with two outcome events of different MessageIds" "$outcome_several" 0 "$outcome_several_ids"
check "outcome events of requests not final, of unknown ids, or reusing a MessageId" "$outcome_stray" 0 "$outcome_stray_ids"
echo "    info  outcome deliveries: $outcome_deliveries for $outcome_messages messages; redeliveries of the same MessageId:" \
  "$outcome_redeliveries (of $outcome_redelivered_messages messages; $outcome_broker_redeliveries flagged redelivered by the broker)," \
  "deduplicated before the checks above"
check "messages left in queues" "$queued" 0
errors=$(curl -sf -u inference:inference "$mgmt/queues/$name" | python3 -c \
  'import json, sys; print(", ".join(q["name"] + ": " + str(q.get("messages", 0)) for q in json.load(sys.stdin) if q["name"].endswith("_error") and q.get("messages", 0)) or "none")')
check "messages in error queues" "$errors" none
echo "    info  saga rows: $(psql "$pg/$name" -Atc "SELECT coalesce(string_agg(current_state || ' ' || n, ', '), 'none') FROM (SELECT current_state, count(*) AS n FROM inference_sagas GROUP BY 1 ORDER BY 1) s"), for $accepted answered 202"
echo "    info  canceled requests by reason: $(psql "$pg/$name" -Atc "SELECT coalesce(string_agg(coalesce(error_code, '?') || ' ' || n, ', '), 'none') FROM (SELECT error_code, count(*) AS n FROM inference_sagas WHERE current_state = 'Canceled' GROUP BY 1 ORDER BY 1) f")"
echo "    info  failed requests by code: $(psql "$pg/$name" -Atc "SELECT coalesce(string_agg(coalesce(error_code, '?') || ' ' || n, ', '), 'none') FROM (SELECT error_code, count(*) AS n FROM inference_sagas WHERE current_state = 'Failed' GROUP BY 1 ORDER BY 1) f")"
# Where the requests a client could not see through ended up, as the database tells.
states_of() {
  local ids
  ids=$(report "\"','\".join(r['accepted']['$1'])")
  [[ -n $ids ]] || { echo none; return; }
  psql "$pg/$name" -Atc "SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT coalesce(s.current_state, 'no saga row') AS state, count(*) AS n
    FROM unnest(ARRAY['$ids']::uuid[]) AS a(id) LEFT JOIN inference_sagas s ON s.correlation_id = a.id GROUP BY 1 ORDER BY 1) x"
}
echo "    info  requests not final, by input: $(report "($counts)(r['accepted']['not_final_by_input'])"); in the database now: $(states_of not_final)"
echo "    info  requests answered 404 after 202, by input: $(report "($counts)(r['accepted']['not_found_after_accepted_by_input'])"); in the database now: $(states_of not_found_after_accepted)"
echo "    info  waited ${settled_after} s for reservations to settle and queues to drain, then ${outcomes_after} s for the outcome events"
echo "    info  processes that exited by themselves and were started again: $unplanned"

echo "==> summary: $accepted accepted: $final_by_status; cancels: $cancels sent ($cancel_answers)," \
  "Cancel-After: $cancel_after_sent sent; outcome events: $outcome_types, $outcome_redeliveries redeliveries; tokens charged $charged"

if ((failed)); then
  echo "==> the last lines each process logged at warning or above"
  for n in "${names[@]}"; do
    echo "    --- $n"
    grep -E '^(warn|fail|crit)' -A 1 "$work/$n.log" | tail -n 8 | cut -c 1-240 | sed 's/^/    /' || true
  done
  echo "    --- outcome subscriber"
  tail -n 8 "$work/subscriber.log" | cut -c 1-240 | sed 's/^/    /' || true
fi
echo "==> $( ((failed)) && echo FAILED || echo passed ) in $((SECONDS - started_at)) s: build $((built_at - started_at)) s," \
  "services $((services_at - built_at)) s, processes $((processes_at - services_at)) s, load $((load_at - processes_at)) s," \
  "checks $((SECONDS - load_at)) s (load average $(cut -d ' ' -f 1-3 /proc/loadavg))"
exit "$failed"
