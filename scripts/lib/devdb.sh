# shellcheck shell=bash
# The developer's PostgreSQL 15 cluster under ./var/pg (used by scripts/run and scripts/env).
# It listens only on a Unix socket in ./var/pg/run (port number 5439 names the socket), trusts
# local connections, has the superuser `pushgate` and the database `pushgate`, and persists
# across runs. Source after common.sh.

# PUSHGATE_VAR_DIR moves the whole var/ tree (scripts/demo uses it for a throw-away run).
DEVDB_DIR="${PUSHGATE_VAR_DIR:-$PUSHGATE_ROOT/var}/pg"
DEVDB_DATA="$DEVDB_DIR/data"
DEVDB_RUN="$DEVDB_DIR/run"
DEVDB_LOG="$DEVDB_DIR/postgres.log"
DEVDB_PORT="${PUSHGATE_DEV_PG_PORT:-5439}"
DEVDB_URL="postgresql://pushgate@/pushgate?host=$DEVDB_RUN&port=$DEVDB_PORT"

_as_postgres() { as_root runuser -u postgres -- "$@"; }

devdb_running() {
  [ -f "$DEVDB_DATA/PG_VERSION" ] && _as_postgres "$PG_BIN/pg_ctl" -D "$DEVDB_DATA" status >/dev/null 2>&1
}

devdb_init() {
  [ -f "$DEVDB_DATA/PG_VERSION" ] && return 0
  say "creating the PostgreSQL 15 cluster in var/pg (first run)"
  as_root mkdir -p "$DEVDB_DATA" "$DEVDB_RUN"
  as_root chown postgres:postgres "$DEVDB_DIR" "$DEVDB_DATA" "$DEVDB_RUN"
  as_root chmod 700 "$DEVDB_DATA"
  _as_postgres test -x "$DEVDB_DIR" ||
    die "the postgres user cannot reach $DEVDB_DIR (a parent directory is not o+x); move the checkout or chmod o+x its parents"
  _as_postgres "$PG_BIN/initdb" -D "$DEVDB_DATA" -U pushgate --auth=trust -E UTF8 \
    --locale=C.UTF-8 >/dev/null
  printf "\ninclude_if_exists = 'pushgate.conf'\n" | _as_postgres tee -a "$DEVDB_DATA/postgresql.conf" >/dev/null
}

devdb_start() {
  devdb_init
  if devdb_running; then
    say "PostgreSQL dev cluster already running (var/pg)"
  else
    as_root mkdir -p "$DEVDB_RUN"
    as_root chown postgres:postgres "$DEVDB_DIR" "$DEVDB_RUN"
    # Rewritten at every start, so that a moved checkout still works.
    printf "listen_addresses = ''\nport = %s\nunix_socket_directories = '%s'\n" \
      "$DEVDB_PORT" "$DEVDB_RUN" | _as_postgres tee "$DEVDB_DATA/pushgate.conf" >/dev/null
    as_root touch "$DEVDB_LOG"
    as_root chown postgres:postgres "$DEVDB_LOG"
    say "starting PostgreSQL dev cluster (socket in var/pg/run, log var/pg/postgres.log)"
    _as_postgres "$PG_BIN/pg_ctl" -D "$DEVDB_DATA" -l "$DEVDB_LOG" -w -t 60 start >/dev/null ||
      { tail -n 20 "$DEVDB_LOG" >&2; die "PostgreSQL did not start"; }
  fi
  local have
  have="$("$PG_BIN/psql" -X -qAt -h "$DEVDB_RUN" -p "$DEVDB_PORT" -U pushgate -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'pushgate'")"
  if [ "$have" != 1 ]; then
    "$PG_BIN/createdb" -h "$DEVDB_RUN" -p "$DEVDB_PORT" -U pushgate pushgate
  fi
}

devdb_stop() {
  if devdb_running; then
    _as_postgres "$PG_BIN/pg_ctl" -D "$DEVDB_DATA" -m fast -w stop >/dev/null
    say "PostgreSQL dev cluster stopped"
  else
    say "PostgreSQL dev cluster is not running"
  fi
}
