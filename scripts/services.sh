#!/usr/bin/env bash
# Make sure RabbitMQ (127.0.0.1:5672, and AMQPS on 5671) and PostgreSQL (127.0.0.1:5432,
# ssl = on) answer, with the local CA's certificates (`sesshu tls init`, var/tls/).
# Order of preference: already running; the system services where they are installed;
# `docker compose` where a Docker engine runs; otherwise say what to install and fail.
set -euo pipefail
cd "$(dirname "$0")/.."

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port seconds
  for _ in $(seq "$3"); do answers "$2" && return 0; sleep 1; done
  echo "services: $1 did not answer on 127.0.0.1:$2 within $3 s" >&2
  return 1
}

# RabbitMQ's file handle cache allows the node its open-files limit less ~100, and every
# vhost's message stores and quorum queues hold some (~40 for a test's vhost). Started as
# root, `rabbitmq-server` runs the node through `su rabbitmq`, whose PAM session resets the
# soft limit to 1024: 927 handles, used up by ~20 vhosts. With none left, vhost creation and
# deletion and even `rabbitmqctl stop` wait for a handle, for minutes. rabbitmq-env.conf is
# sourced by every RabbitMQ script as the rabbitmq user, so the node raises its own soft
# limit (up to the hard one) there; it takes effect when the node next starts.
RABBITMQ_ENV_CONF=/etc/rabbitmq/rabbitmq-env.conf
RABBITMQ_NOFILE_MARK="# sesshu: raise the node's open-files soft limit"
raise_rabbitmq_file_limit() {
  [ -d /etc/rabbitmq ] && [ -w /etc/rabbitmq ] || return 0
  grep -qxF "$RABBITMQ_NOFILE_MARK" "$RABBITMQ_ENV_CONF" 2>/dev/null && return 0
  # The node must keep its plain 127.0.0.1:5672 listener: only the limit is touched.
  printf '%s\n%s\n' "$RABBITMQ_NOFILE_MARK" \
    'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true' \
    >>"$RABBITMQ_ENV_CONF"
}

# The port answers before the node has booted its virtual hosts. `check_running` exists in
# every RabbitMQ since 3.8 (`rabbitmq-diagnostics await_startup` does not in 3.10).
wait_until_booted() {  # seconds
  command -v rabbitmq-diagnostics >/dev/null || return 0
  for _ in $(seq "$1"); do
    rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "services: RabbitMQ answered on 5672 but did not finish booting within $1 s" >&2
  return 1
}

# The management HTTP API (the desk's operator console reads queue depths from it, and
# shows "unavailable" without it) and the Prometheus endpoint. Enabled on the running node,
# which needs no restart, and only when one is not: enabling writes enabled_plugins.
enable_rabbitmq_plugins() {
  command -v rabbitmq-plugins >/dev/null || return 0
  rabbitmq-plugins -q is_enabled rabbitmq_management rabbitmq_prometheus >/dev/null 2>&1 \
    && return 0
  echo "services: enabling RabbitMQ's management and Prometheus plugins"
  rabbitmq-plugins -q enable rabbitmq_management rabbitmq_prometheus >/dev/null \
    || echo "services: could not enable them: the console shows queue depths as unavailable" >&2
}

start_rabbitmq() {
  if command -v rabbitmq-server >/dev/null; then
    rabbitmq-server -detached
  elif docker info >/dev/null 2>&1; then
    docker compose -f compose/docker-compose.yml up -d rabbitmq
  else
    echo "services: RabbitMQ is not running and neither rabbitmq-server nor a Docker engine" \
         "is available. Install RabbitMQ 3.13+ (Debian: apt-get install rabbitmq-server)" \
         "or Docker, or point SESSHU_AMQP__URL at a running broker." >&2
    exit 1
  fi
}

start_postgres() {
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  elif docker info >/dev/null 2>&1; then
    docker compose -f compose/docker-compose.yml up -d postgres
  else
    echo "services: PostgreSQL is not running and neither a PostgreSQL cluster nor a Docker" \
         "engine is available. Install PostgreSQL 15+ (Debian: apt-get install postgresql)" \
         "or Docker, or point SESSHU_DATABASE__URL at a running server." >&2
    exit 1
  fi
}

# -- TLS on every link ------------------------------------------------------------------
# The local CA and the servers' certificates live in var/tls/ (`sesshu tls init`: keeps
# what is valid, renews what is near expiry). The servers run as their own OS users, which
# cannot read var/tls/ (0700): each gets a copy of its own certificate and key, owned by it.
# The plain listeners stay (127.0.0.1 only; other tools on this machine use them); the
# hub's and adapters' settings refuse them unless tls.allow_plaintext says development.
# One CA per machine, not per checkout: every checkout (and CI's fresh clone) on this
# machine talks to the same RabbitMQ and PostgreSQL, whose certificates a checkout's own
# CA would replace, breaking the others. It lives in SESSHU_TLS_HOME (default under
# $XDG_DATA_HOME), and each checkout's var/tls/ is a link to it.
TLS_HOME="${SESSHU_TLS_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/sesshu/tls}"
TLS_DIR=var/tls
RABBITMQ_CONF=/etc/rabbitmq/rabbitmq.conf
RABBITMQ_TLS_DIR=/etc/rabbitmq/tls
RABBITMQ_TLS_BEGIN="# sesshu: AMQPS listener (scripts/services.sh) begin"
RABBITMQ_TLS_END="# sesshu: AMQPS listener end"
RABBITMQ_TLS_CHANGED=0
POSTGRES_TLS_CHANGED=0

# stack/tls.py needs only cryptography: the venv's Python (`make` builds it first), else
# the system's if it has cryptography.
tls_python() {
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; return 0; fi
  python3 -c 'import cryptography' 2>/dev/null && { echo python3; return 0; }
  echo "services: no Python with cryptography for the TLS certificates: run make venv" >&2
  return 1
}

# var/tls/ -> the machine's CA folder. A checkout's own var/tls/ from before becomes the
# machine's when there is none yet (the servers were given its certificates); where the
# machine has one, a checkout's own is set aside, not deleted.
link_tls_dir() {
  mkdir -p "$(dirname "$TLS_HOME")" var
  if [ -d "$TLS_DIR" ] && [ ! -L "$TLS_DIR" ]; then
    if [ -e "$TLS_HOME" ]; then mv "$TLS_DIR" "$TLS_DIR.own.$(date +%s)"; else mv "$TLS_DIR" "$TLS_HOME"; fi
  fi
  ln -sfn "$TLS_HOME" "$TLS_DIR"
}

make_tls_certificates() {
  local python
  python="$(tls_python)"
  link_tls_dir
  "$python" -m stack.tls init "$TLS_HOME"
}

# Copy a service's files to where its OS user reads them; prints `changed` if any changed.
install_tls() {  # service target owner
  "$(tls_python)" -m stack.tls install "$TLS_DIR" "$1" "$2" "$3"
}

# The AMQPS listener, in a marked block of rabbitmq.conf (rewritten only when it differs:
# the node reads its listeners only when it starts). verify_none: clients verify the
# broker; the broker authenticates clients by user and password, not by certificate.
rabbitmq_conf_wanted() {
  # Everything but the block, compared as whole lines (the markers are no patterns).
  [ -f "$RABBITMQ_CONF" ] && awk -v begin="$RABBITMQ_TLS_BEGIN" -v end="$RABBITMQ_TLS_END" \
    '$0 == begin { skip = 1 } !skip { print } $0 == end { skip = 0 }' "$RABBITMQ_CONF"
  cat <<EOF
$RABBITMQ_TLS_BEGIN
listeners.ssl.default = 127.0.0.1:5671
ssl_options.cacertfile = $RABBITMQ_TLS_DIR/ca.pem
ssl_options.certfile = $RABBITMQ_TLS_DIR/rabbitmq.pem
ssl_options.keyfile = $RABBITMQ_TLS_DIR/rabbitmq.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
$RABBITMQ_TLS_END
EOF
}

configure_rabbitmq_tls() {
  command -v rabbitmq-server >/dev/null && [ -d /etc/rabbitmq ] && [ -w /etc/rabbitmq ] \
    && id rabbitmq >/dev/null 2>&1 || return 0
  local installed wanted
  # Assigned first, so that a failed copy stops the script (set -e) instead of passing.
  installed="$(install_tls rabbitmq "$RABBITMQ_TLS_DIR" rabbitmq)"
  [ "$installed" = changed ] && RABBITMQ_TLS_CHANGED=1
  wanted="$(rabbitmq_conf_wanted)"
  [ "$wanted" = "$(cat "$RABBITMQ_CONF" 2>/dev/null)" ] && return 0
  printf '%s\n' "$wanted" >"$RABBITMQ_CONF"
  RABBITMQ_TLS_CHANGED=1
}

# A running node read its listeners and certificates when it started: restart it, once,
# only when they changed (stop and start, as restart_rabbitmq in tests/harness.py does).
apply_rabbitmq_tls() {
  [ "$RABBITMQ_TLS_CHANGED" = 1 ] && answers 5672 || return 0
  echo "services: restarting RabbitMQ for its AMQPS listener"
  rabbitmqctl -q stop
  rabbitmq-server -detached
  wait_for RabbitMQ 5672 60
}

# ssl = on with the certificate, in conf.d (included by Debian's postgresql.conf), so the
# cluster's own files stay as the package left them. A reload applies it: no restart.
configure_postgres_tls() {
  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && id postgres >/dev/null 2>&1 \
    || return 0
  local main installed wanted
  main="/etc/postgresql/$(ls /etc/postgresql | sort -V | tail -1)/main"
  [ -d "$main/conf.d" ] && [ -w "$main/conf.d" ] || return 0
  installed="$(install_tls postgres "$main/tls" postgres)"
  [ "$installed" = changed ] && POSTGRES_TLS_CHANGED=1
  wanted="# sesshu: TLS (scripts/services.sh)
ssl = on
ssl_cert_file = '$main/tls/postgres.pem'
ssl_key_file = '$main/tls/postgres.key'
ssl_min_protocol_version = 'TLSv1.2'"
  [ "$wanted" = "$(cat "$main/conf.d/60-sesshu-tls.conf" 2>/dev/null)" ] && return 0
  printf '%s\n' "$wanted" >"$main/conf.d/60-sesshu-tls.conf"
  POSTGRES_TLS_CHANGED=1
}

apply_postgres_tls() {
  [ "$POSTGRES_TLS_CHANGED" = 1 ] && answers 5432 || return 0
  echo "services: reloading PostgreSQL for ssl = on"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload
}


# -- A database role per party ----------------------------------------------------------
# Every party's role (stack/roles.py) is in the NOLOGIN group sesshu_party, and pg_hba.conf
# asks the group's members for their password (scram-sha-256; PostgreSQL 15 stores SCRAM
# verifiers by default) before the lines already there, which match first otherwise. The
# superuser postgres keeps its trust lines: `sesshu stack` provisions with it, and other
# tools on this machine use it. A marked block, replaced when it differs; a reload applies it.
PARTY_GROUP=sesshu_party
as_postgres() { psql -h 127.0.0.1 -U postgres -d postgres -XAtq "$@"; }

PARTY_HBA_BEGIN="# sesshu: party roles (scripts/services.sh) begin"
PARTY_HBA_END="# sesshu: party roles end"
# Before every other line, so they decide first: a party role logs in only over TLS, with
# its password, and never to the maintenance databases (it needs none: its own database
# is made for it); the postgres superuser's lines below stay as they are.
party_hba_wanted() {
  printf '%s\n' "$PARTY_HBA_BEGIN" \
    "local     all                            +$PARTY_GROUP                 reject" \
    "hostnossl all                            +$PARTY_GROUP  all            reject" \
    "host      postgres,template0,template1   +$PARTY_GROUP  all            reject" \
    "hostssl   all                            +$PARTY_GROUP  127.0.0.1/32   scram-sha-256" \
    "hostssl   all                            +$PARTY_GROUP  ::1/128        scram-sha-256" \
    "$PARTY_HBA_END"
}

configure_postgres_roles() {
  command -v psql >/dev/null || return 0
  as_postgres -c "DO \$\$ BEGIN CREATE ROLE $PARTY_GROUP NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
  local hba rest new
  hba="$(as_postgres -c 'SHOW hba_file')"
  if [ ! -f "$hba" ] || [ ! -w "$hba" ]; then
    echo "services: cannot write pg_hba.conf: the party roles' lines are not there" >&2
    return 0
  fi
  # What is there without our block (and without the one-line-marked block of before).
  rest="$(awk -v begin="$PARTY_HBA_BEGIN" -v end="$PARTY_HBA_END" \
    -v older="# sesshu: party roles log in with their password (scripts/services.sh)" '
      $0 == begin { skip = 1; next }
      $0 == end { skip = 0; lead = 1; next }
      $0 == older { old = 1; next }
      old && $0 == "" { old = 0; lead = 1; next }
      skip || old { next }
      lead && $0 == "" { next }
      { lead = 0; print }' "$hba")"
  new="$(party_hba_wanted; printf '\n%s\n' "$rest")"
  [ "$new" = "$(cat "$hba")" ] && return 0
  # Replaced whole (a reload never reads half a file), keeping its owner and mode.
  local tmp
  tmp="$(mktemp "$hba.XXXXXX")"
  printf '%s\n' "$new" >"$tmp"
  chown --reference="$hba" "$tmp" && chmod --reference="$hba" "$tmp"
  mv -f "$tmp" "$hba"
  echo "services: pg_hba.conf: party roles over TLS with their password only; reloading"
  as_postgres -c 'SELECT pg_reload_conf()' >/dev/null
}


make_tls_certificates
command -v rabbitmq-server >/dev/null && raise_rabbitmq_file_limit
configure_rabbitmq_tls
configure_postgres_tls
apply_rabbitmq_tls
if ! answers 5672; then
  echo "services: starting RabbitMQ"
  start_rabbitmq
  wait_for RabbitMQ 5672 60
fi
wait_until_booted 120
enable_rabbitmq_plugins
wait_for "RabbitMQ (AMQPS)" 5671 30
apply_postgres_tls
if ! answers 5432; then
  echo "services: starting PostgreSQL"
  start_postgres
  wait_for PostgreSQL 5432 60
fi
configure_postgres_roles
echo "services: RabbitMQ and PostgreSQL answer, with TLS on 5671 and 5432"
