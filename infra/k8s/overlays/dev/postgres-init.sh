#!/bin/sh
# Run by the postgres image once, when it creates the data directory: the
# application role the hives connect as (DATABASE_URL). It owns nothing; the
# migrations, run as the owner (KEYFORGE_MIGRATION_DATABASE_URL), grant it DML.
# The password reaches psql as a variable, never on a command line.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="${KEYFORGE_APP_PASSWORD:?}" <<'SQL'
CREATE ROLE keyforge_app LOGIN PASSWORD :'app_password';
SQL
