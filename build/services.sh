#!/usr/bin/env bash
# Real PostgreSQL, Redis and RabbitMQ for the test suite, on fixed loopback ports.
#
#   ./build/services.sh start            reuse what already answers, start the rest (installs packages if needed)
#   ./build/services.sh stop             stop the instances this script started and delete their data
#   ./build/services.sh status           say what answers where; exit 1 if something does not
#   ./build/services.sh env              print `export` lines for the INFERENCE_TEST_* variables
#
# For outage drills, one service at a time, and only an instance this script started (never an
# external or merely reused server). Its data is kept: a stop and a start are a restart, not a wipe.
#
#   ./build/services.sh stop postgres|rabbitmq|redis
#   ./build/services.sh start postgres|rabbitmq|redis
#   ./build/services.sh restart postgres|rabbitmq|redis
#
# A service whose INFERENCE_TEST_* variable is already set is external: it is never started,
# stopped or checked here, only passed through by `env`. Everything else runs as a plain daemon
# (no systemd on CI machines) with throwaway data under $INFERENCE_SERVICES_DIR, and outlives
# this script so that the next test run reuses it instead of paying the start-up again.
#
# INFERENCE_SERVICES_PORT_OFFSET (default 0) moves every port below by that much and gives the
# RabbitMQ node a name of its own: with a different INFERENCE_SERVICES_DIR, a second set of
# services that can be stopped and restarted without disturbing tests that use the first
# (build/crash-check.sh does this).
#
# The ports and credentials below must stay identical to the fallbacks in
# tests/Inference.Server.Tests/Infrastructure/TestServices.cs.
set -euo pipefail

readonly SERVICES_DIR="${INFERENCE_SERVICES_DIR:-/tmp/inference-test-services}"
# Per service, not in total. RabbitMQ is the slow one (Erlang boot plus the management plugin).
readonly STARTUP_TIMEOUT="${INFERENCE_SERVICES_TIMEOUT:-60}"
readonly PORT_OFFSET="${INFERENCE_SERVICES_PORT_OFFSET:-0}"
[[ $PORT_OFFSET =~ ^[0-9]+$ ]] || { echo "[services] ERROR: INFERENCE_SERVICES_PORT_OFFSET must be a number" >&2; exit 2; }

readonly PG_PORT=$((55432 + PORT_OFFSET))
readonly REDIS_PORT=$((56379 + PORT_OFFSET))
readonly RABBIT_PORT=$((55672 + PORT_OFFSET))
readonly RABBIT_MGMT_PORT=$((55673 + PORT_OFFSET))
# Erlang distribution port of our node; fixed so it can't collide with a random one and is easy to spot.
readonly RABBIT_DIST_PORT=$((55679 + PORT_OFFSET))
# Nodes on one host register their names with the one epmd, so a second set needs a name of its own.
if ((PORT_OFFSET == 0)); then readonly RABBIT_NODE=inference-test@localhost; else readonly RABBIT_NODE="inference-test-$PORT_OFFSET@localhost"; fi
readonly TEST_USER=inference
readonly TEST_PASSWORD=inference

readonly PG_DEFAULT="Host=127.0.0.1;Port=${PG_PORT};Username=${TEST_USER};Password=${TEST_PASSWORD};Database=postgres"
readonly REDIS_DEFAULT="127.0.0.1:${REDIS_PORT}"
readonly RABBIT_DEFAULT="amqp://${TEST_USER}:${TEST_PASSWORD}@127.0.0.1:${RABBIT_PORT}/"
readonly RABBIT_MGMT_DEFAULT="http://${TEST_USER}:${TEST_PASSWORD}@127.0.0.1:${RABBIT_MGMT_PORT}/"

readonly PG_DIR="$SERVICES_DIR/postgres"
readonly PG_DATA="$PG_DIR/data"
readonly PG_LOG="$PG_DIR/postgres.log"
readonly REDIS_DIR="$SERVICES_DIR/redis"
readonly REDIS_LOG="$REDIS_DIR/redis.log"
readonly REDIS_PIDFILE="$REDIS_DIR/redis.pid"
readonly REDIS_DUMP=dump.rdb
readonly RABBIT_DIR="$SERVICES_DIR/rabbitmq"
readonly RABBIT_OUT="$RABBIT_DIR/rabbitmq-server.out"
readonly RABBIT_LOG="$RABBIT_DIR/log/$RABBIT_NODE.log"
readonly RABBIT_PIDFILE="$RABBIT_DIR/rabbitmq.pid"

# The Elixir-based rabbitmqctl complains loudly without a UTF-8 locale.
export LANG="${LANG:-C.UTF-8}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the end of each log that exists, then fail: a service that won't start is
# diagnosed from its own log, not from our timeout message.
die_with_logs() {
    local message=$1 file
    shift
    for file in "$@"; do
        if [[ -s $file ]]; then
            printf '\n----- last 40 lines of %s -----\n' "$file" >&2
            tail -n 40 "$file" >&2
        fi
    done
    die "$message"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Milliseconds since the epoch, for the timings we print.
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

pid_file_alive() { [[ -s $1 ]] && kill -0 "$(<"$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until <timeout seconds> <pid or -> <command...>
# Polls the command until it succeeds. Returns 1 on timeout and 2 as soon as the given
# process is gone, so a crashing server fails fast instead of after the whole timeout.
wait_until() {
    local timeout=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [[ $pid != - ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
        if ((SECONDS >= deadline)); then return 1; fi
        sleep 0.5
    done
}

# Start a long-running server in its own session, detached from our stdio and from the
# lock descriptor (fd 9): a daemon holding either would hang callers that read our output
# (`| tee`, CI log capture) or block every later `start` on the lock. It runs from its log's
# directory so it doesn't pin the checkout we were started from. Sets $DAEMON_PID.
spawn_daemon() {
    local out=$1
    shift
    (cd "$(dirname "$out")" && exec setsid "$@" </dev/null >>"$out" 2>&1 9>&-) &
    DAEMON_PID=$!
}

# Serialise start/stop: several checkouts on one machine share these ports and this
# directory, and two concurrent cold starts would fight over them. The lock file sits beside
# the services dir (not in it) so that `stop` can delete the dir while holding it.
take_lock() {
    mkdir -p "$(dirname "$SERVICES_DIR")"
    exec 9>"$SERVICES_DIR.lock"
    flock -w 300 9 || die "another start/stop has held $SERVICES_DIR.lock for 5 minutes"
}

# ---------------------------------------------------------------------------------------
# Binaries and packages
# ---------------------------------------------------------------------------------------

# Debian installs PostgreSQL server binaries per major version and puts none of them on PATH.
pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n $dir && -x $dir/pg_ctl ]] && echo "$dir"
}

# Debian's /usr/sbin/rabbitmq* are wrappers that `su` to the rabbitmq user (and, for the
# server, redirect output to /var/log/rabbitmq), which would ignore our HOME and Erlang cookie.
# Use the real scripts behind them so the server and rabbitmqctl run as the same user as us.
rabbit_bin_dir() {
    if [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
        echo /usr/lib/rabbitmq/bin
    elif command -v rabbitmq-server >/dev/null && ! grep -qs 'su rabbitmq' "$(command -v rabbitmq-server)"; then
        dirname "$(command -v rabbitmq-server)"
    else
        return 1
    fi
}

is_external() { [[ -n ${!1:-} ]]; }

install_missing_packages() {
    local packages=()
    if ! is_external INFERENCE_TEST_POSTGRES; then
        if [[ -z $(pg_bin_dir) ]] || ! command -v psql >/dev/null || ! command -v pg_isready >/dev/null; then
            packages+=(postgresql)
        fi
    fi
    if ! is_external INFERENCE_TEST_REDIS; then
        if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
            packages+=(redis-server)
        fi
    fi
    if ! is_external INFERENCE_TEST_RABBITMQ; then
        [[ -n $(rabbit_bin_dir) ]] || packages+=(rabbitmq-server)
        command -v curl >/dev/null || packages+=(curl)
    fi
    ((${#packages[@]} > 0)) || return 0

    local sudo=()
    is_root || sudo=(sudo)
    log "installing missing packages: ${packages[*]}"
    # The packages' post-install scripts try to start the stock services through invoke-rc.d;
    # where that is denied (no systemd) they just skip it, which is what we want.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

# PostgreSQL refuses to run as root, so as root every server-side command runs as the
# `postgres` user created by the Debian package. From / because runuser keeps our working
# directory, which that user usually cannot read.
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

pg_login_works() {
    PGPASSWORD=$TEST_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -At \
        "host=127.0.0.1 port=$PG_PORT user=$TEST_USER dbname=postgres" -c 'select 1' >/dev/null 2>&1
}

pg_ours_running() {
    local bin
    bin=$(pg_bin_dir) || return 1
    [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# Idempotent, so it also repairs a server whose first start died before this step.
pg_ensure_role() {
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_USER') THEN
        CREATE ROLE $TEST_USER LOGIN SUPERUSER PASSWORD '$TEST_PASSWORD';
    ELSE
        ALTER ROLE $TEST_USER LOGIN SUPERUSER PASSWORD '$TEST_PASSWORD';
    END IF;
END
\$\$;
SQL
}

start_postgres() {
    if pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
        if pg_login_works; then
            log "postgres: reusing the server on 127.0.0.1:$PG_PORT"
            return
        fi
        pg_ours_running || die "postgres: something answers on 127.0.0.1:$PG_PORT but $TEST_USER/$TEST_PASSWORD cannot log in; stop it or set INFERENCE_TEST_POSTGRES"
        pg_ensure_role
        pg_login_works || die "postgres: our server on port $PG_PORT still rejects $TEST_USER after re-creating the role"
        log "postgres: reusing our server on 127.0.0.1:$PG_PORT (role repaired)"
        return
    fi
    port_open "$PG_PORT" && die "postgres: port $PG_PORT is taken by something that is not PostgreSQL"

    local bin started
    bin=$(pg_bin_dir) || die "postgres: no /usr/lib/postgresql/*/bin/pg_ctl"
    started=$(now_ms)
    if is_root; then
        getent passwd postgres >/dev/null || die "postgres: running as root needs the 'postgres' system user (from the postgresql package)"
    fi

    mkdir -p "$PG_DIR"
    is_root && chown postgres: "$PG_DIR"
    as_pg test -w "$PG_DIR" || die "postgres: $PG_DIR is not writable by the postgres user (is a parent directory private?)"
    # Created by the server's user: we append initdb's output, the postmaster appends the rest.
    as_pg touch "$PG_LOG"

    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        rm -rf "$PG_DATA"
        # -N: skip fsync, the data is thrown away anyway. Local (socket) connections are
        # trusted so this script can create the role; TCP, which the tests use, needs a password.
        as_pg "$bin/initdb" -N -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 ||
            die_with_logs "postgres: initdb failed" "$PG_LOG"
        # Appended last so these win over the generated defaults. Durability is pointless for
        # throwaway test data and costs a lot of time; the tests open many pools in parallel.
        as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<CONF

# --- inference test services (build/services.sh) ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    fi

    # pg_ctl detaches the postmaster itself (own session, output to -l) and -w waits for it.
    if ! as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$STARTUP_TIMEOUT" start >/dev/null 9>&-; then
        as_pg "$bin/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
        die_with_logs "postgres: pg_ctl start failed or timed out (${STARTUP_TIMEOUT}s)" "$PG_LOG"
    fi
    wait_until "$STARTUP_TIMEOUT" - pg_isready -q -h 127.0.0.1 -p "$PG_PORT" ||
        die_with_logs "postgres: not accepting TCP connections on 127.0.0.1:$PG_PORT" "$PG_LOG"
    pg_ensure_role || die_with_logs "postgres: could not create role $TEST_USER" "$PG_LOG"
    pg_login_works || die_with_logs "postgres: $TEST_USER cannot log in over TCP" "$PG_LOG"
    log "postgres: started on 127.0.0.1:$PG_PORT in $(($(now_ms) - started)) ms (data: $PG_DATA)"
}

stop_postgres() {
    local bin
    [[ -f $PG_DATA/PG_VERSION ]] || return 0
    bin=$(pg_bin_dir) || return 0
    if pg_ours_running; then
        as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null && log "postgres: stopped"
    fi
}

# ---------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

start_redis() {
    if redis_ping; then
        log "redis: reusing the server on 127.0.0.1:$REDIS_PORT"
        return
    fi
    port_open "$REDIS_PORT" && die "redis: port $REDIS_PORT is taken by something that does not answer PING"

    local started
    started=$(now_ms)
    mkdir -p "$REDIS_DIR"
    # In the foreground under setsid rather than --daemonize, so we know its pid and notice at
    # once if it dies (a daemonized redis exits after its parent has already reported success).
    # No persistence while it runs: the tests flush and recreate what they need. Only a
    # `stop redis` saves a snapshot ($REDIS_DUMP), which this start loads and then deletes, so a
    # snapshot is never loaded twice.
    local restored=""
    [[ -f $REDIS_DIR/$REDIS_DUMP ]] && restored=", data restored from $REDIS_DUMP"
    spawn_daemon "$REDIS_LOG" redis-server \
        --bind 127.0.0.1 --port "$REDIS_PORT" \
        --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
        --dbfilename "$REDIS_DUMP" --save '' --appendonly no --daemonize no
    local rc=0
    # PING answers -LOADING until the snapshot is in memory, so PONG also means it was loaded.
    wait_until "$STARTUP_TIMEOUT" "$DAEMON_PID" redis_ping || rc=$?
    if ((rc != 0)); then
        kill "$DAEMON_PID" 2>/dev/null || true
        die_with_logs "redis: $( ((rc == 2)) && echo 'exited during start-up' || echo "no PONG within ${STARTUP_TIMEOUT}s")" "$REDIS_LOG"
    fi
    rm -f "${REDIS_DIR:?}/$REDIS_DUMP"
    log "redis: started on 127.0.0.1:$REDIS_PORT in $(($(now_ms) - started)) ms (pid $DAEMON_PID$restored)"
}

stop_redis() {
    local pid
    [[ -f $REDIS_PIDFILE ]] || return 0
    pid=$(<"$REDIS_PIDFILE")
    stop_pid redis "$pid"
}

# For `stop redis`: the data must survive until `start redis`, so Redis writes a snapshot on the
# way down (SHUTDOWN SAVE refuses to exit if the snapshot fails, and then we fail too).
stop_redis_keeping_data() {
    local pid
    pid_file_alive "$REDIS_PIDFILE" || { log "redis: not running"; return 0; }
    pid=$(<"$REDIS_PIDFILE")
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown save >/dev/null 2>&1 || true
    wait_until 30 - bash -c "! kill -0 $pid" ||
        die_with_logs "redis: pid $pid still runs 30s after SHUTDOWN SAVE" "$REDIS_LOG"
    [[ -f $REDIS_DIR/$REDIS_DUMP ]] || die_with_logs "redis: stopped, but wrote no snapshot" "$REDIS_LOG"
    log "redis: stopped (data kept in $REDIS_DIR/$REDIS_DUMP)"
}

# Politely, then firmly: `stop` must leave nothing behind on our ports.
stop_pid() {
    local name=$1 pid=$2
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    if ! wait_until 30 - bash -c "! kill -0 $pid"; then
        log "$name: pid $pid ignored SIGTERM for 30s, killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    log "$name: stopped"
}

# ---------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------

# Everything our node and rabbitmqctl must agree on. HOME points into the services dir so
# both find the same private Erlang cookie whoever runs this, without touching ~/.erlang.cookie.
# RABBITMQ_CONF_ENV_FILE is an empty file of ours so a machine's /etc/rabbitmq/rabbitmq-env.conf
# can't change our node. Passed through `env` so none of it leaks into the rest of this script.
rabbit_env() {
    RABBIT_ENV=(
        HOME="$RABBIT_DIR"
        RABBITMQ_NODENAME="$RABBIT_NODE"
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$RABBIT_PORT"
        RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
        RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
        RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
        RABBITMQ_PID_FILE="$RABBIT_PIDFILE"
        RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq.conf"
        RABBITMQ_ADVANCED_CONFIG_FILE="$RABBIT_DIR/advanced.config"
        RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins"
        RABBITMQ_CONF_ENV_FILE="$RABBIT_DIR/rabbitmq-env.conf"
        ERL_EPMD_ADDRESS=127.0.0.1
        # Not into whatever directory we were started from (the repository, usually).
        ERL_CRASH_DUMP="$RABBIT_DIR/erl_crash.dump"
        # Otherwise the distribution port listens on every interface, unlike everything else here.
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
    )
    RABBIT_BIN=$(rabbit_bin_dir) || die "rabbitmq: no rabbitmq-server found"
}

# rabbit <tool> <args...>: run rabbitmqctl & co. against our node. Bounded, because the CLI
# can block indefinitely (e.g. `stop <pid file>` waits for a pid file that may never appear).
rabbit() {
    rabbit_env
    timeout 60 env "${RABBIT_ENV[@]}" "$RABBIT_BIN/$1" "${@:2}"
}

rabbit_mgmt_works() {
    curl -fsS -o /dev/null --max-time 5 -u "$TEST_USER:$TEST_PASSWORD" \
        "http://127.0.0.1:$RABBIT_MGMT_PORT/api/overview" 2>/dev/null
}

# The AMQP listener and the management API open at the end of the node's boot, after the default
# user and vhost exist; an authenticated API call proves both. Not `rabbitmqctl await_startup`: every
# rabbitmqctl boots an Erlang VM of its own, which on two cores slows the very node it asks about.
rabbit_ready() {
    port_open "$RABBIT_PORT" && rabbit_mgmt_works
}

start_rabbitmq() {
    if rabbit_mgmt_works && port_open "$RABBIT_PORT"; then
        log "rabbitmq: reusing the broker on 127.0.0.1:$RABBIT_PORT (management :$RABBIT_MGMT_PORT)"
        return
    fi
    local port
    for port in "$RABBIT_PORT" "$RABBIT_MGMT_PORT" "$RABBIT_DIST_PORT"; do
        port_open "$port" && die "rabbitmq: port $port is taken but our broker does not answer there; stop it or set INFERENCE_TEST_RABBITMQ(_MANAGEMENT)"
    done

    local started
    started=$(now_ms)
    mkdir -p "$RABBIT_DIR/mnesia" "$RABBIT_DIR/log"
    : >"$RABBIT_DIR/rabbitmq-env.conf"
    echo '[rabbitmq_management].' >"$RABBIT_DIR/enabled_plugins"
    # default_user* creates our administrator (instead of guest) with full rights on / when
    # the node boots with an empty database, so there is no window without the user and no
    # add_user step. loopback_users = none lifts the "loopback only" rule from every user;
    # the broker listens on loopback only anyway.
    cat >"$RABBIT_DIR/rabbitmq.conf" <<CONF
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBIT_MGMT_PORT
loopback_users = none
default_vhost = /
default_user = $TEST_USER
default_pass = $TEST_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
log.file.level = info
log.console = false
CONF
    if [[ ! -f $RABBIT_DIR/.erlang.cookie ]]; then
        (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RABBIT_DIR/.erlang.cookie")
        chmod 400 "$RABBIT_DIR/.erlang.cookie"
    fi

    # Foreground mode under setsid rather than -detached: same daemon, but we keep its pid,
    # so a node that crashes while booting fails the start at once.
    rabbit_env
    spawn_daemon "$RABBIT_OUT" env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmq-server"
    local rc=0
    wait_until "$STARTUP_TIMEOUT" "$DAEMON_PID" rabbit_ready || rc=$?
    if ((rc != 0)); then
        stop_rabbitmq_quietly
        # A node that never got as far as its pid file: the start script stops it on SIGTERM.
        kill "$DAEMON_PID" 2>/dev/null || true
        die_with_logs "rabbitmq: $( ((rc == 2)) && echo 'exited during start-up' || echo "not ready within ${STARTUP_TIMEOUT}s (the AMQP port and the management API must both answer)")" \
            "$RABBIT_OUT" "$RABBIT_LOG"
    fi
    log "rabbitmq: started on 127.0.0.1:$RABBIT_PORT (management :$RABBIT_MGMT_PORT) in $(($(now_ms) - started)) ms (node $RABBIT_NODE)"
}

stop_rabbitmq_quietly() {
    local pid
    pid_file_alive "$RABBIT_PIDFILE" || return 0
    # Read first: the node deletes its pid file on the way down.
    pid=$(<"$RABBIT_PIDFILE")
    # The Erlang VM answers SIGTERM with the same orderly shutdown as `rabbitmqctl stop` (queues and
    # messages are saved), without booting a second VM for the CLI, which takes tens of seconds on
    # a busy two-core machine. The CLI remains the fallback.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until 60 - bash -c "! kill -0 $pid"; then
        rabbit rabbitmqctl -n "$RABBIT_NODE" -q stop "$RABBIT_PIDFILE" >/dev/null 2>&1 || true
    fi
    stop_pid rabbitmq "$pid" >/dev/null 2>&1
}

stop_rabbitmq() {
    [[ -d $RABBIT_DIR ]] || return 0
    local was_running=false
    pid_file_alive "$RABBIT_PIDFILE" && was_running=true
    stop_rabbitmq_quietly
    "$was_running" && log "rabbitmq: stopped"
    return 0
}

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

cmd_start() {
    if [[ -n ${INFERENCE_TEST_RABBITMQ:-} && -z ${INFERENCE_TEST_RABBITMQ_MANAGEMENT:-} ]] ||
        [[ -z ${INFERENCE_TEST_RABBITMQ:-} && -n ${INFERENCE_TEST_RABBITMQ_MANAGEMENT:-} ]]; then
        die "set both INFERENCE_TEST_RABBITMQ and INFERENCE_TEST_RABBITMQ_MANAGEMENT, or neither"
    fi

    local started
    started=$(now_ms)
    take_lock
    install_missing_packages
    mkdir -p "$SERVICES_DIR"
    # PostgreSQL runs as another user and must be able to get through this directory.
    chmod 755 "$SERVICES_DIR"

    if is_external INFERENCE_TEST_POSTGRES; then log "postgres: external (INFERENCE_TEST_POSTGRES)"; else start_postgres; fi
    if is_external INFERENCE_TEST_REDIS; then log "redis: external (INFERENCE_TEST_REDIS)"; else start_redis; fi
    if is_external INFERENCE_TEST_RABBITMQ; then log "rabbitmq: external (INFERENCE_TEST_RABBITMQ)"; else start_rabbitmq; fi
    log "ready in $(($(now_ms) - started)) ms"
}

cmd_stop() {
    take_lock
    stop_rabbitmq
    stop_redis
    stop_postgres
    # Guard the rm against an empty or root path from a bad INFERENCE_SERVICES_DIR.
    if [[ -d $SERVICES_DIR && $SERVICES_DIR != / && -n $SERVICES_DIR ]]; then
        rm -rf "$SERVICES_DIR"
        log "removed $SERVICES_DIR"
    fi
}

cmd_status() {
    local ok=true
    if is_external INFERENCE_TEST_POSTGRES; then
        log "postgres: external (not checked)"
    elif pg_login_works; then
        log "postgres: up on 127.0.0.1:$PG_PORT$(pg_ours_running && echo ' (ours)')"
    else
        log "postgres: DOWN on 127.0.0.1:$PG_PORT"; ok=false
    fi
    if is_external INFERENCE_TEST_REDIS; then
        log "redis: external (not checked)"
    elif redis_ping; then
        log "redis: up on 127.0.0.1:$REDIS_PORT$(pid_file_alive "$REDIS_PIDFILE" && echo ' (ours)')"
    else
        log "redis: DOWN on 127.0.0.1:$REDIS_PORT"; ok=false
    fi
    if is_external INFERENCE_TEST_RABBITMQ; then
        log "rabbitmq: external (not checked)"
    elif rabbit_mgmt_works && port_open "$RABBIT_PORT"; then
        log "rabbitmq: up on 127.0.0.1:$RABBIT_PORT (management :$RABBIT_MGMT_PORT)$(pid_file_alive "$RABBIT_PIDFILE" && echo ' (ours)')"
    else
        log "rabbitmq: DOWN on 127.0.0.1:$RABBIT_PORT / :$RABBIT_MGMT_PORT"; ok=false
    fi
    "$ok"
}

cmd_env() {
    printf 'export INFERENCE_TEST_POSTGRES=%q\n' "${INFERENCE_TEST_POSTGRES:-$PG_DEFAULT}"
    printf 'export INFERENCE_TEST_REDIS=%q\n' "${INFERENCE_TEST_REDIS:-$REDIS_DEFAULT}"
    printf 'export INFERENCE_TEST_RABBITMQ=%q\n' "${INFERENCE_TEST_RABBITMQ:-$RABBIT_DEFAULT}"
    printf 'export INFERENCE_TEST_RABBITMQ_MANAGEMENT=%q\n' "${INFERENCE_TEST_RABBITMQ_MANAGEMENT:-$RABBIT_MGMT_DEFAULT}"
}

# ---------------------------------------------------------------------------------------
# One service at a time (outage drills)
# ---------------------------------------------------------------------------------------

service_variable() {
    case $1 in
        postgres) echo INFERENCE_TEST_POSTGRES ;;
        redis) echo INFERENCE_TEST_REDIS ;;
        rabbitmq) echo INFERENCE_TEST_RABBITMQ ;;
    esac
}

service_answers() {
    case $1 in
        postgres) pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 ;;
        redis) port_open "$REDIS_PORT" ;;
        rabbitmq) port_open "$RABBIT_PORT" || port_open "$RABBIT_MGMT_PORT" ;;
    esac
}

service_ours_running() {
    case $1 in
        postgres) pg_ours_running ;;
        redis) pid_file_alive "$REDIS_PIDFILE" ;;
        rabbitmq) pid_file_alive "$RABBIT_PIDFILE" ;;
    esac
}

# What a start of ours leaves behind, running or not.
service_ours_exists() {
    case $1 in
        postgres) [[ -f $PG_DATA/PG_VERSION ]] ;;
        redis) [[ -d $REDIS_DIR ]] ;;
        rabbitmq) [[ -d $RABBIT_DIR/mnesia ]] ;;
    esac
}

# Stopping or restarting someone else's server would take it from whoever else uses it.
ensure_ours() {
    local service=$1 action=$2 variable
    variable=$(service_variable "$service")
    is_external "$variable" && die "$service: external ($variable); this script only ${action}s the services it started itself"
    if service_answers "$service" && ! service_ours_running "$service"; then
        die "$service: the server on its port was not started by this script (data dir $SERVICES_DIR); not ${action}ing it"
    fi
    if [[ $action != start ]] && ! service_ours_exists "$service"; then
        die "$service: this script has not started one under $SERVICES_DIR; nothing to $action"
    fi
    return 0
}

stop_one() {
    case $1 in
        postgres) service_ours_running postgres || log "postgres: not running"; stop_postgres ;;
        redis) stop_redis_keeping_data ;;
        rabbitmq) service_ours_running rabbitmq || log "rabbitmq: not running"; stop_rabbitmq ;;
    esac
}

start_one() {
    install_missing_packages
    mkdir -p "$SERVICES_DIR"
    chmod 755 "$SERVICES_DIR"
    case $1 in
        postgres) start_postgres ;;
        redis) start_redis ;;
        rabbitmq) start_rabbitmq ;;
    esac
}

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

usage() {
    cat >&2 <<USAGE
usage: $0 start|stop|status|env
       $0 start|stop|restart postgres|rabbitmq|redis
USAGE
    exit 2
}

service_argument() {
    case ${1:-} in
        postgres | rabbitmq | redis) echo "$1" ;;
        *) usage ;;
    esac
}

case "${1:-}" in
    start)
        if (($# == 1)); then
            cmd_start
        else
            service=$(service_argument "${2:-}")
            take_lock
            ensure_ours "$service" start
            start_one "$service"
        fi
        ;;
    stop)
        if (($# == 1)); then
            cmd_stop
        else
            service=$(service_argument "${2:-}")
            take_lock
            ensure_ours "$service" stop
            stop_one "$service"
        fi
        ;;
    restart)
        service=$(service_argument "${2:-}")
        take_lock
        ensure_ours "$service" restart
        started=$(now_ms)
        stop_one "$service"
        start_one "$service"
        log "$service: restarted in $(($(now_ms) - started)) ms"
        ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) usage ;;
esac
