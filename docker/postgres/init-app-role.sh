#!/bin/sh
# The application role the hives connect as (DATABASE_URL). It owns nothing;
# the migrations, run as the owner (KEYFORGE_MIGRATION_DATABASE_URL), grant it
# DML. One script for every Postgres of the fleet: the postgres image runs it
# once, when it creates the data directory (compose and the Kubernetes dev
# overlay mount it in /docker-entrypoint-initdb.d), and `keyforge up` runs it
# at each start (so it creates the role when missing and sets its password).
# The password reaches psql through its environment (\getenv), never on a
# command line.
set -e
: "${KEYFORGE_APP_PASSWORD:?set KEYFORGE_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv app_password KEYFORGE_APP_PASSWORD
SELECT 'CREATE ROLE keyforge_app LOGIN PASSWORD NULL'
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'keyforge_app') \gexec
ALTER ROLE keyforge_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
SQL
