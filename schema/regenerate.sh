#!/bin/sh
# Regenerates schema/sqlite.sql and schema/postgres.sql: the schema the migrations leave, read
# back from a new database of each backend (tests/it/schema_dump.rs). Run it after adding or
# changing a migration, and commit the result with it; `schema::snapshot` fails until then.
# Needs the PostgreSQL test server (VPN_INVENTORY_TEST_POSTGRES, as the tests do).
set -eu
cd "$(dirname "$0")/.."
UPDATE_SCHEMA=1 exec cargo test --test it schema::snapshot -- --exact
