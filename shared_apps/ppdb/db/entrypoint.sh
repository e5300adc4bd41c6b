#!/bin/sh
# PPDB database entrypoint.
# First start: initialise the cluster in $PGDATA (the volume) with scram-sha-256 auth,
# create role and database 'ppdb' with the password from /run/secrets/DB_PASSWORD.
# Every start: exec postgres as the postgres user (PID 1, so SIGTERM = clean "smart" shutdown).
set -eu

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
SECRET="${DB_PASSWORD_FILE:-/run/secrets/DB_PASSWORD}"
DB_NAME=ppdb
DB_USER=ppdb

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ ! -r "$SECRET" ]; then
        echo "ppdb-db: secret $SECRET tidak ada; tidak dapat menginisialisasi database" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    chown postgres "$pwfile"
    chmod 0600 "$pwfile"
    tr -d '\n' < "$SECRET" > "$pwfile"
    echo "ppdb-db: inisialisasi cluster di $PGDATA"
    as_postgres initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" \
        --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "listen_addresses = '*'"
        echo "password_encryption = 'scram-sha-256'"
        echo "max_connections = 100"
        echo "shared_buffers = 128MB"
        echo "log_min_messages = warning"
    } >> "$PGDATA/postgresql.conf"
    {
        echo "# ppdb: local socket for the postgres superuser (peer), network with scram"
        echo "local all postgres peer"
        echo "host  all all 0.0.0.0/0 scram-sha-256"
        echo "host  all all ::/0      scram-sha-256"
    } > "$PGDATA/pg_hba.conf"
    # Create role and database on a private socket only (no TCP) before going public.
    as_postgres pg_ctl --pgdata="$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
    pw=$(cat "$pwfile")
    # The password travels on stdin via psql variables, never on a command line.
    printf '%s\n' "\\set pw '$(printf '%s' "$pw" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")'" \
        "CREATE ROLE $DB_USER LOGIN PASSWORD :'pw';" \
        "CREATE DATABASE $DB_NAME OWNER $DB_USER ENCODING 'UTF8';" \
        | as_postgres psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U postgres -d postgres >/dev/null
    as_postgres pg_ctl --pgdata="$PGDATA" -w -m fast stop >/dev/null
    rm -f "$pwfile"
    echo "ppdb-db: database $DB_NAME siap"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres -D "$PGDATA"
