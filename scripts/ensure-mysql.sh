#!/usr/bin/env bash
# Makes sure a MySQL-compatible server answers for the tests. If TCC_TEST_MYSQL_DSN is
# set, it is trusted as is. Otherwise the local MariaDB on 127.0.0.1:3306 is used, and
# started (or installed from Debian's packages, then started) when it does not answer.
# The tests and the chaos run open several connection pools at once, so the local
# server's connection limit is raised when it is below 1000.
set -euo pipefail

if [ -n "${TCC_TEST_MYSQL_DSN:-}" ]; then
  exit 0
fi

ping_db() { mysqladmin -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

if ! ping_db; then
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    echo "ensure-mysql: installing MariaDB from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null
  fi
  echo "ensure-mysql: starting MariaDB" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    if ping_db; then break; fi
    sleep 1
  done
  if ! ping_db; then
    echo "ensure-mysql: MariaDB did not answer on 127.0.0.1:3306" >&2
    exit 1
  fi
fi

max=$(mysql -h127.0.0.1 -P3306 -uroot -N -e 'SELECT @@max_connections' 2>/dev/null || echo 0)
if [ "${max:-0}" -lt 1000 ]; then
  mysql -h127.0.0.1 -P3306 -uroot -e 'SET GLOBAL max_connections = 1000' 2>/dev/null \
    || echo "ensure-mysql: could not raise max_connections (now ${max}); heavy tests may see 'Too many connections'" >&2
fi
