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

rabbit_ready() { answers 5672 && { ! command -v rabbitmq-diagnostics >/dev/null || rabbitmq-diagnostics -q check_running >/dev/null 2>&1; }; }

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

if ! rabbit_ready; then
  echo "services: starting RabbitMQ"
  start_rabbitmq
  wait_for RabbitMQ 5672 60
  command -v rabbitmq-diagnostics >/dev/null && rabbitmq-diagnostics -q await_startup >/dev/null
fi
if ! answers 5432; then
  echo "services: starting PostgreSQL"
  start_postgres
  wait_for PostgreSQL 5432 60
fi
echo "services: RabbitMQ and PostgreSQL answer"
