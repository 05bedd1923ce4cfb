#!/usr/bin/env bash
# The README's main command (`make`): start the test service with a sample data set, sync it
# into a local database with powersync-client (progress bar on a terminal), make a local write,
# upload it, show the server's version of that row synced back, stop the service, summarise.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release}
DIR=${DEMO_DIR:-target/demo}
LISTS=${DEMO_LISTS:-100}
TODOS=${DEMO_TODOS:-4000}
USER_ID=demo
rm -rf "$DIR"
mkdir -p "$DIR"
DB="$DIR/demo.db"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }

# The sample data set: lists (one global bucket, priority 1) and the demo user's todos (a
# per-user bucket, priority 3), each todo with a 200-character text.
notes=$(printf 'n%.0s' $(seq 1 200))
awk -v lists="$LISTS" -v todos="$TODOS" -v user="$USER_ID" -v notes="$notes" 'BEGIN {
  printf "{\"rows\": {\"lists\": [";
  for (i = 1; i <= lists; i++)
    printf "%s{\"id\": \"list-%d\", \"name\": \"List %d\", \"created_at\": \"2026-01-01T00:00:00Z\", \"owner_id\": \"%s\"}", (i > 1 ? ", " : ""), i, i, user;
  printf "], \"todos\": [";
  for (i = 1; i <= todos; i++)
    printf "%s{\"id\": \"todo-%d\", \"list_id\": \"list-%d\", \"description\": \"Todo %d\", \"notes\": \"%s\", \"priority\": %d, \"estimate_hours\": %.1f, \"completed\": %d, \"created_at\": \"2026-01-01T00:00:00Z\", \"owner_id\": \"%s\"}", (i > 1 ? ", " : ""), i, (i % lists) + 1, i, notes, i % 5, (i % 16) / 2.0, i % 3 == 0, user;
  printf "]}}\n";
}' > "$DIR/seed.json"

say "Starting powersync-test-service with $LISTS lists and $TODOS todos"
. tools/lib/test-service.sh
start_test_service "$BIN" tools/demo/rules.json "$DIR/seed.json" "$DIR/service.log"
echo "service at $URL"

client() { "$BIN/powersync-client" "$@"; }
sync_once() {
  client sync --db "$DB" --schema tools/demo/schema.json --endpoint "$URL" \
    --token-command "$BIN/powersync-test-service token --sub $USER_ID" \
    --upload-url "$URL/upload" --once
}

say "Initial sync into $DB"
start=$(now)
sync_once
synced=$(now)
client query --db "$DB" "SELECT (SELECT count(*) FROM lists) AS lists, (SELECT count(*) FROM todos) AS todos"

say "A local write (queued in ps_crud until it is uploaded)"
client query --db "$DB" "INSERT INTO todos(id, list_id, description, priority, completed, created_at, owner_id)
  VALUES ('todo-local-1', 'list-1', 'Written locally by the demo', 1, 0, '2026-12-02T00:00:00Z', '$USER_ID')"
client crud --db "$DB"

say "Sync again: upload the write, wait for the write checkpoint, download the server's version"
sync_once
client query --db "$DB" "SELECT t.id, t.description, b.name AS synced_from_bucket, o.op_id AS server_op_id
  FROM todos t JOIN ps_oplog o ON o.row_type = 'todos' AND o.row_id = t.id JOIN ps_buckets b ON b.id = o.bucket
  WHERE t.id = 'todo-local-1'"
pending=$(client query --db "$DB" --json "SELECT count(*) AS n FROM ps_crud" | tr -dc '0-9')
client status --db "$DB"

kill $SERVICE 2>/dev/null || true
wait $SERVICE 2>/dev/null || true
trap - EXIT
end=$(now)
rows=$(client query --db "$DB" --json "SELECT (SELECT count(*) FROM lists) + (SELECT count(*) FROM todos) AS n" | tr -dc '0-9')

say "Summary"
awk -v rows="$rows" -v a="$start" -v b="$synced" -v c="$end" -v db="$DB" -v pending="$pending" 'BEGIN {
  printf "rows synced:       %d\n", rows;
  printf "initial sync took: %.2f s\n", b - a;
  printf "whole demo took:   %.2f s\n", c - a;
  printf "pending uploads:   %d\n", pending;
  printf "database:          %s\n", db;
}'
[ "$pending" = 0 ] || { echo "the local write was not uploaded"; exit 1; }
