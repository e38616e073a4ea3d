#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the storage tests and prints its URL.
# Usage: eval "$(bash .ci/postgres.sh)"  (exports LIGHTNING_GANS_TEST_POSTGRES)
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=${PGDATA_DIR:-/tmp/lightning-gans-pg}
port=${PG_PORT:-55432}
[ -f "$data/postmaster.pid" ] && su postgres -c "$bin/pg_ctl -D $data -m fast stop" > /dev/null 2>&1 || true
rm -rf "$data" && mkdir -p "$data" && chown postgres "$data"
su postgres -c "$bin/initdb -D $data -A trust -U postgres" > /dev/null
su postgres -c "$bin/pg_ctl -D $data -o '-p $port -k /tmp -c listen_addresses=127.0.0.1' -l $data/server.log -w start" > /dev/null
su postgres -c "psql -h 127.0.0.1 -p $port -U postgres -c 'CREATE DATABASE gans'" > /dev/null
echo "export LIGHTNING_GANS_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$port/gans"
