#!/usr/bin/env bash
# Make sure RabbitMQ (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432) answer.
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

command -v rabbitmq-server >/dev/null && raise_rabbitmq_file_limit
if ! answers 5672; then
  echo "services: starting RabbitMQ"
  start_rabbitmq
  wait_for RabbitMQ 5672 60
fi
wait_until_booted 120
if ! answers 5432; then
  echo "services: starting PostgreSQL"
  start_postgres
  wait_for PostgreSQL 5432 60
fi
echo "services: RabbitMQ and PostgreSQL answer"
