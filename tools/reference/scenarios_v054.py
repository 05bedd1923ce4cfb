"""Scenarios for gen_v054_vectors.py: one vec(...) per vector file, for each change of 0.5.4 (docs/decisions.md, "Core 0.5.4")."""

import json

from gen_v054_vectors import q, vec, x

INIT = x("begin; select powersync_init(); commit")
CLIENT = x("update ps_kv set value = 'client-1' where key = 'client_id'")
MASTER = "select type, name, tbl_name, sql from sqlite_master where name not like 'ps\\_%' escape '\\' or name like 'ps\\_data%' escape '\\' or name like 'ps\\_view%' escape '\\' order by rowid"
MASTER_T = "select type, name, tbl_name, sql from sqlite_master where tbl_name = ? and sql is not null order by rowid"
CRUD = "select data, tx_id from ps_crud order by id"
UNTYPED = "select type, id, data from ps_untyped order by type, id"


def j(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def cols(*names):
    return [{"name": n, "type": "text"} for n in names]


def tbl(name, columns, **opts):
    d = {"name": name, "columns": columns}
    d.update(opts)
    return d


def schema(*tables, raw=None, **kw):
    d = {"tables": list(tables)}
    if raw is not None:
        d["raw_tables"] = raw
    return [x("begin"), q("select powersync_replace_schema(?)", j(d), **kw), x("commit")]


def schema_err(*tables, **kw):
    d = {"tables": list(tables)}
    return [x("begin"), q("select powersync_replace_schema(?)", j(d), **kw), x("rollback")]


def ctl(op, payload=None, **kw):
    if payload is not None and not isinstance(payload, str):
        payload = j(payload)
    return [x("begin"), q("select powersync_control(?, ?)", op, payload, **kw), x("commit")]


def start(tables=None, raw=None, **kw):
    if tables is None and raw is None:
        return ctl("start", None, **kw)
    s = {"tables": tables or []}
    if raw is not None:
        s["raw_tables"] = raw
    return ctl("start", {"schema": s}, **kw)


def line(obj, **kw):
    return ctl("line_text", obj if isinstance(obj, str) else j(obj), **kw)


def put(op_id, otype, oid, data, checksum=1):
    return {"op_id": str(op_id), "op": "PUT", "object_type": otype, "object_id": oid, "checksum": checksum,
            "data": data if isinstance(data, str) else j(data)}


def remove(op_id, otype, oid, checksum=1):
    return {"op_id": str(op_id), "op": "REMOVE", "object_type": otype, "object_id": oid, "checksum": checksum}


def sync_ops(ops, bucket="b", last=None, priority=3, complete=True):
    """checkpoint (checksum = sum of op checksums), data line, checkpoint_complete."""
    last = last or max(int(o["op_id"]) for o in ops)
    total = sum(o["checksum"] for o in ops) & 0xFFFFFFFF
    s = line({"checkpoint": {"last_op_id": str(last), "buckets": [{"bucket": bucket, "checksum": total, "priority": priority, "count": len(ops)}]}})
    s += line({"data": {"bucket": bucket, "data": ops}})
    if complete:
        s += line({"checkpoint_complete": {"last_op_id": str(last)}})
    return s


ITEMS = tbl("items", [{"name": "title", "type": "text"}, {"name": "qty", "type": "integer"}],
            indexes=[{"name": "by_title", "columns": [{"name": "title", "ascending": False, "type": "text"},
                                                     {"name": "qty", "ascending": True, "type": "integer"}]}], direct=True)
ITEMS_SQL = [
    ["table", "items", "items", 'CREATE TABLE "items"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,"title" ANY,"qty" ANY) STRICT'],
    ["index", "ps_data__items__by_title", "items", 'CREATE INDEX "ps_data__items__by_title"/* ps-managed */ ON "items"("title" DESC, "qty")'],
    ["trigger", "ps_view_delete_items", "items", '''CREATE TRIGGER "ps_view_delete_items" AFTER DELETE ON "items" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN
INSERT INTO powersync_crud(op,id,type) VALUES ('DELETE', OLD.id, 'items');
END'''],
    ["trigger", "ps_view_insert_items", "items", '''CREATE TRIGGER "ps_view_insert_items" AFTER INSERT ON "items" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN
INSERT INTO powersync_crud(op,id,type,data) VALUES ('PUT', NEW.id, 'items', json(powersync_diff('{}', json_object('title', powersync_strip_subtype(NEW."title"), 'qty', powersync_strip_subtype(NEW."qty")))));
END'''],
    ["trigger", "ps_view_update_items", "items", '''CREATE TRIGGER "ps_view_update_items" AFTER UPDATE ON "items" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN
SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (ABORT, 'Cannot update id') END;
INSERT INTO powersync_crud(op,id,type,data,options) VALUES ('PATCH', NEW.id, 'items', json(powersync_diff(json_object('title', powersync_strip_subtype(OLD."title"), 'qty', powersync_strip_subtype(OLD."qty")), json_object('title', powersync_strip_subtype(NEW."title"), 'qty', powersync_strip_subtype(NEW."qty")))), 0);
END'''],
]

# ============================================================================================
# §2.1-2.3 direct tables: schema JSON and generated SQL

vec("direct/table-default-sql",
    "A direct table (\"direct\": true) is a real STRICT table named like the schema table, every column ANY, with "
    "the /* ps-managed */ marker, its index named after the JSON internal name, and AFTER triggers (delete, insert, "
    "update in creation order) recording PUT / PATCH with options / DELETE; no ps_data__ table and no view.",
    "docs/direct-tables-design.md",
    [INIT, schema(ITEMS), q(MASTER_T, "items", expect=ITEMS_SQL),
     q("select count(*) from sqlite_master where name like 'ps_data__%' and type in ('table', 'view')")])

vec("direct/table-local-only-sql",
    "A local-only direct table: marker /* ps-managed local-only */, index named ps_data_local__<name>__<index>, and "
    "only the UPDATE trigger with the id check (no INSERT/DELETE triggers).",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("loc", cols("a"), local_only=True, direct=True,
                      indexes=[{"name": "ia", "columns": [{"name": "a", "ascending": True, "type": "text"}]}])),
     q(MASTER_T, "loc")])

vec("direct/table-local-only-insert-only-sql",
    "local_only together with insert_only gives the same SQL as local_only alone (insert_only is ignored).",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("loc", cols("a"), local_only=True, insert_only=True, direct=True)), q(MASTER_T, "loc")])

vec("direct/table-insert-only-sql",
    "A synced insert_only direct table: INSERT trigger through powersync_crud_ (manual form, '...));END'), UPDATE "
    "and DELETE triggers are SELECT RAISE(ABORT, 'Unexpected update on insert-only table').",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("logs", cols("msg"), insert_only=True, direct=True)), q(MASTER_T, "logs")])

vec("direct/table-options-sql",
    "include_old (list), include_old_only_when_changed, ignore_empty_update and include_metadata on a direct table: "
    "the PATCH/DELETE inserts carry old_values as for JSON tables, options 28 (include_metadata only sets bit 4), no "
    "metadata columns are added.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("m", [{"name": "a", "type": "text"}, {"name": "b", "type": "integer"}], include_old=["a"],
                      include_old_only_when_changed=True, ignore_empty_update=True, include_metadata=True, direct=True)),
     q(MASTER_T, "m")])

vec("direct/table-include-old-all-sql",
    "include_old: true on a direct table puts every column into old_values (PATCH and DELETE).",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("o", cols("a", "b"), include_old=True, direct=True)), q(MASTER_T, "o")])

vec("direct/table-quoting-sql",
    "Identifiers are quoted with doubled '\"', string literals with doubled ''': table we\"ird t'x, column co\"l'x, "
    "index i\"x.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("we\"ird t'x", cols("co\"l'x"), direct=True,
                      indexes=[{"name": "i\"x", "columns": [{"name": "co\"l'x", "ascending": True, "type": "text"}]}])),
     q(MASTER_T, "we\"ird t'x")])

vec("direct/table-zero-columns",
    "A direct table without columns: CREATE TABLE \"z\"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */) STRICT and "
    "triggers with an empty json_object().",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("z", [], direct=True)), q(MASTER_T, "z"),
     x("insert into z(id) values ('a')"), q(CRUD)])

vec("direct/table-over-50-columns",
    "More than 50 columns: the trigger JSON is built with powersync_json_merge over chunks of 50 columns, as for "
    "JSON tables; a local insert records all values.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("wide", cols(*[f"c{i}" for i in range(60)]), direct=True)),
     q("select sql from sqlite_master where name = 'ps_view_insert_wide'"),
     q("select sql from sqlite_master where name = 'ps_view_update_wide'"),
     x("insert into wide(id, c0, c59) values ('w', 'first', 'last')"), q(CRUD)])

vec("direct/error-direct-not-bool",
    "\"direct\" must be a boolean: 1 and null fail like the other flags (3091, serde message after 'cause: ').",
    "docs/direct-tables-design.md",
    [INIT, schema_err(tbl("e", [], direct=1)), schema_err(tbl("e", [], direct=None)),
     schema_err(tbl("e", [], direct="yes")), q("select count(*) from sqlite_master where name = 'e'")])

vec("direct/error-view-name",
    "A direct table must not have a view_name (even one equal to name): 'Direct tables can't have custom view "
    "names' without position suffix; view_name null is accepted; parse errors elsewhere win over the check.",
    "docs/direct-tables-design.md",
    [INIT,
     schema_err(tbl("e", [], view_name="ev", direct=True),
                expect_error="powersync_replace_schema: invalid argument: . cause: Direct tables can't have custom view names", prefix=""),
     schema_err(tbl("e", [], view_name="e", direct=True), prefix=""),
     [x("begin"), q("select powersync_replace_schema(?)", '{"tables":[{"name":"e","view_name":"ev","columns":[],"direct":true},{"name":5}]}'), x("rollback")],
     schema(tbl("e", [], view_name=None, direct=True)),
     q("select type, name from sqlite_master where tbl_name = 'e' order by rowid")])

vec("direct/error-view-name-in-start",
    "The view_name check also applies to the schema of a powersync_control('start', ...) payload, with the "
    "serde position of the payload appended.",
    "docs/direct-tables-design.md",
    [INIT, ctl("start", '{"schema": {"tables": [{"name": "e", "columns": [], "direct": true, "view_name": "v"}]}}', prefix="")])

vec("direct/error-existing-table",
    "Creating a direct table whose name is taken fails with SQLite's error wrapped (code 1): an existing user table, "
    "a view, an internal table (ps_crud); nothing of the schema stays after rollback.",
    "docs/direct-tables-design.md",
    [INIT, x("create table usr(id text primary key)"), x("create view vw as select 1"),
     schema_err(tbl("usr", cols("a"), direct=True)),
     schema_err(tbl("vw", cols("a"), direct=True)),
     schema_err(tbl("ps_crud", cols("a"), direct=True)),
     q("select sql from sqlite_master where name = 'usr'")])

vec("direct/error-bad-columns",
    "SQLite refuses some direct tables: a column named id, two columns equal up to case, a name starting with "
    "sqlite_, two schema tables with the same name (all code 1).",
    "docs/direct-tables-design.md",
    [INIT, schema_err(tbl("t", cols("id"), direct=True)),
     schema_err(tbl("t", cols("a", "A"), direct=True)),
     schema_err(tbl("sqlite_x", cols("a"), direct=True)),
     schema_err(tbl("t", cols("a"), direct=True), tbl("t", cols("b"), direct=True))])

vec("direct/raw-table-direct-ignored",
    "\"direct\" inside a raw table object is ignored: the raw table is accepted and creates nothing.",
    "docs/direct-tables-design.md",
    [INIT, x("create table r(id text primary key, a text)"),
     schema(raw=[{"name": "r", "table_name": "r", "direct": True}]),
     q("select type, name from sqlite_master where tbl_name = 'r' order by rowid")])

# ============================================================================================
# §2.4 local writes

SIMPLE = tbl("items", [{"name": "title", "type": "text"}, {"name": "qty", "type": "integer"}], direct=True)

vec("direct/local-writes-crud",
    "Local writes go to the table itself; the AFTER triggers record PUT, PATCH (only changed values), PATCH {} for "
    "an update to the same values, DELETE — as for JSON views, with tx ids and the local-write gate in ps_kv.",
    "docs/direct-tables-design.md",
    [INIT, schema(SIMPLE),
     x("insert into items(id, title, qty) values ('i1', 'a', 3)"),
     x("update items set qty = 4 where id = 'i1'"),
     x("update items set qty = 4 where id = 'i1'"),
     x("delete from items where id = 'i1'"),
     q(CRUD, expect=[['{"op":"PUT","id":"i1","type":"items","data":{"qty":3,"title":"a"}}', 1],
                     ['{"op":"PATCH","id":"i1","type":"items","data":{"qty":4}}', 2],
                     ['{"op":"PATCH","id":"i1","type":"items","data":{}}', 3],
                     ['{"op":"DELETE","id":"i1","type":"items"}', 4]]),
     q("select key, value from ps_kv where key != 'client_id' order by key"),
     q("select * from ps_updated_rows"),
     q("select count(*) from items")])

vec("direct/local-write-id-rules",
    "No 'id is required' check on direct tables: a NULL id fails with SQLite's NOT NULL constraint (1299); a "
    "non-text id is converted by the STRICT TEXT column (5 is stored as '5').",
    "docs/direct-tables-design.md",
    [INIT, schema(SIMPLE),
     q("insert into items(id, title) values (NULL, 'x')"),
     x("insert into items(id, title) values (5, 'five')"),
     q("select id, typeof(id), title from items"), q(CRUD)])

vec("direct/local-write-id-change-aborts",
    "Changing the id of a direct-table row fails with 'Cannot update id' (1811); RAISE(ABORT) undoes the whole "
    "statement, so the row keeps its id and no CRUD row is added.",
    "docs/direct-tables-design.md",
    [INIT, schema(SIMPLE), x("insert into items(id, title) values ('i1', 'a')"),
     q("update items set id = 'i2' where id = 'i1'"),
     q("select id, title from items"), q(CRUD)])

vec("direct/local-write-insert-only",
    "Insert-only direct tables keep inserted rows locally (the trigger adds a powersync_crud_ PUT); UPDATE and "
    "DELETE are refused with 'Unexpected update on insert-only table' (1811) and undone.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("logs", cols("msg"), insert_only=True, direct=True)),
     x("insert into logs(id, msg) values ('l1', 'hello')"),
     q("update logs set msg = 'x'"), q("delete from logs"),
     q("select id, msg from logs"), q(CRUD)])

vec("direct/local-write-local-only",
    "Local-only direct tables record nothing: inserts, updates and deletes leave ps_crud empty and the gate unset.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("loc", cols("a"), local_only=True, direct=True)),
     x("insert into loc(id, a) values ('x', '1')"), x("update loc set a = '2'"),
     q("update loc set id = 'y'"),
     x("delete from loc"), q(CRUD), q("select count(*) from ps_kv where key != 'client_id'")])

vec("direct/local-write-options",
    "include_old + only_when_changed + ignore_empty_update on a direct table: an update with equal values records "
    "nothing, a changed update records old values of changed include_old columns, delete records old values.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("m", [{"name": "a", "type": "text"}, {"name": "b", "type": "integer"}], include_old=["a"],
                      include_old_only_when_changed=True, ignore_empty_update=True, include_metadata=True, direct=True)),
     x("insert into m(id, a, b) values ('r', 'x', 1)"),
     x("update m set a = 'x'"), x("update m set b = 2"), x("update m set a = 'y'"), x("delete from m"),
     q(CRUD)])

vec("direct/local-write-value-types",
    "Values are whatever the ANY column holds: INTEGER, REAL, TEXT and NULL go into the PUT JSON as such.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("v", cols("i", "r", "t", "n"), direct=True)),
     x("insert into v(id, i, r, t, n) values ('a', 1, 2.5, '3', NULL)"),
     q("select typeof(i), typeof(r), typeof(t), typeof(n) from v"), q(CRUD)])

# ============================================================================================
# §2.5 recognising existing tables

vec("direct/recognise-marker-table-dropped",
    "A user table whose SQL contains /* ps-managed is treated as a direct table: a schema that does not list it "
    "drops it and moves its rows to ps_untyped (NULL columns as null members).",
    "docs/direct-tables-design.md",
    [INIT, x('create table mine(id text primary key not null /* ps-managed */, a any, b any) strict'),
     x("insert into mine values ('r1', 'x', NULL)"),
     schema(tbl("other", cols("a"))),
     q("select count(*) from sqlite_master where name = 'mine'"), q(UNTYPED)])

vec("direct/recognise-local-marker-discarded",
    "A table with the local-only marker that the schema no longer lists is dropped and its rows are discarded.",
    "docs/direct-tables-design.md",
    [INIT, x('create table mine(id text primary key not null /* ps-managed local-only */, a any) strict'),
     x("insert into mine values ('r1', 'x')"),
     schema(tbl("other", cols("a"))),
     q("select count(*) from sqlite_master where name = 'mine'"), q(UNTYPED)])

vec("direct/recognise-no-id-column",
    "A table carrying the marker but without an id column makes powersync_replace_schema fail with 'Table <name> "
    "has no id column.' (3091).",
    "docs/direct-tables-design.md",
    [INIT, x('create table bad(k text /* ps-managed */, a any)'),
     schema_err(tbl("other", cols("a")))])

# ============================================================================================
# §2.6 migrations between JSON and direct tables

T_JSON = tbl("t", cols("a", "b"))
T_JSON_LOCAL = tbl("t", cols("a", "b"), local_only=True)
T_DIRECT = tbl("t", cols("a", "b"), direct=True)
T_DIRECT_LOCAL = tbl("t", cols("a", "b"), local_only=True, direct=True)
SEED = [x("insert into t(id, a, b) values ('r1', 'x', 1)"), x("delete from ps_crud"),
        x("""insert into ps_untyped(type, id, data) values ('t', 'u1', '{"a":"from_untyped","b":2.5,"c":"extra"}')""")]
AFTER_DIRECT = [q("select id, a, typeof(a), b, typeof(b) from t order by id"), q(UNTYPED), q(CRUD),
                q("select type, name from sqlite_master where tbl_name = 't' or name like 'ps_data%' order by rowid")]
AFTER_JSON = [q("select name from sqlite_master where name like 'ps_data%' and type = 'table'"),
              q("select id, data from ps_data__t order by id") , q(UNTYPED), q(CRUD),
              q("select type, name from sqlite_master where tbl_name = 't' or name like 'ps_data%' order by rowid")]
AFTER_JSON_LOCAL = [q("select id, data from ps_data_local__t order by id"), q(UNTYPED), q(CRUD),
                    q("select type, name from sqlite_master where tbl_name = 't' or name like 'ps_data%' order by rowid")]


def migration(name, old, new, after, desc):
    vec(f"direct/migrate-{name}", desc, "docs/direct-tables-design.md", [INIT, schema(old)] + SEED + [schema(new)] + after)


migration("json-synced-to-direct-synced", T_JSON, T_DIRECT, AFTER_DIRECT,
          "JSON synced -> direct synced: the view is dropped, the direct table created and the JSON table's rows copied "
          "(types from the JSON); ps_untyped is not consulted; no CRUD rows.")
migration("json-local-to-direct-local", T_JSON_LOCAL, T_DIRECT_LOCAL, AFTER_DIRECT,
          "JSON local-only -> direct local-only: rows are copied into the direct table; ps_untyped untouched.")
migration("json-local-to-direct-synced", T_JSON_LOCAL, T_DIRECT, AFTER_DIRECT,
          "JSON local-only -> direct synced: the direct table is filled from ps_untyped (key c dropped); the local "
          "rows are discarded.")
migration("json-synced-to-direct-local", T_JSON, T_DIRECT_LOCAL, AFTER_DIRECT,
          "JSON synced -> direct local-only: the new table starts empty; the synced rows go to ps_untyped.")
migration("direct-synced-to-json-synced", T_DIRECT, T_JSON, AFTER_JSON,
          "direct synced -> JSON synced: rows are copied into ps_data__t as JSON objects; ps_untyped untouched.")
migration("direct-local-to-json-local", T_DIRECT_LOCAL, T_JSON_LOCAL, AFTER_JSON_LOCAL,
          "direct local-only -> JSON local-only: rows are copied into ps_data_local__t as JSON.")
migration("direct-local-to-json-synced", T_DIRECT_LOCAL, T_JSON, AFTER_JSON,
          "direct local-only -> JSON synced: ps_data__t is filled from ps_untyped (verbatim data); local rows discarded.")
migration("direct-synced-to-json-local", T_DIRECT, T_JSON_LOCAL, AFTER_JSON_LOCAL,
          "direct synced -> JSON local-only: the local table starts empty; the synced rows go to ps_untyped as JSON.")
migration("direct-synced-to-direct-local", T_DIRECT, T_DIRECT_LOCAL, AFTER_DIRECT,
          "direct synced -> direct local-only: the table is dropped (rows to ps_untyped) and recreated empty.")
migration("direct-local-to-direct-synced", T_DIRECT_LOCAL, T_DIRECT, AFTER_DIRECT,
          "direct local-only -> direct synced: the table is recreated and filled from ps_untyped.")

vec("direct/migrate-json-view-name-to-direct",
    "A synced JSON table with view_name v becoming a direct table: rows are copied into the direct table; the view "
    "v and its triggers are dropped with the other leftover views.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a", "b"), view_name="v")),
     x("insert into v(id, a, b) values ('r1', 'x', 1)"), x("delete from ps_crud"),
     schema(T_DIRECT), q("select id, a, b from t"),
     q("select type, name from sqlite_master where tbl_name in ('t', 'v') or name like 'ps_data%' order by rowid")])

vec("direct/migrate-removed-to-untyped-and-back",
    "A direct synced table removed from the schema is dropped and its rows go to ps_untyped (NULL columns as null); "
    "adding it back moves them in again.",
    "docs/direct-tables-design.md",
    [INIT, schema(T_DIRECT), x("insert into t(id, a, b) values ('r1', 'x', NULL)"), x("insert into t(id, a, b) values ('r2', 'y', 2)"),
     schema(), q("select count(*) from sqlite_master where name = 't'"), q(UNTYPED),
     schema(T_DIRECT), q("select id, a, b from t order by id"), q(UNTYPED), q(CRUD)])

vec("direct/migrate-untyped-invalid-data",
    "Rows moved from ps_untyped into a new direct table must be JSON objects: data that is not JSON fails with "
    "'invalid local data' (11), a JSON array with 'expected oplog data to be an object' (3091).",
    "docs/direct-tables-design.md",
    [INIT, x("insert into ps_untyped(type, id, data) values ('t', 'u1', 'not json')"),
     schema_err(T_DIRECT),
     x("update ps_untyped set data = '[1]'"),
     schema_err(T_DIRECT)])

vec("direct/migrate-columns-add-and-drop",
    "Same-kind direct -> direct with new columns z, a, c (old a, b): managed indexes and triggers are dropped, "
    "columns added in ascending name order (c, z), b dropped, indexes/triggers recreated; existing rows get NULL; "
    "a resync is requested (last_applied_op 0, ps_sync_state kept).",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a", "b"), direct=True, indexes=[{"name": "ia", "columns": [{"name": "a", "ascending": True, "type": "text"}]}])),
     x("insert into t(id, a, b) values ('r1', 'x', 'y')"),
     x("insert into ps_buckets(name, last_applied_op) values ('b', 5)"),
     x("insert into ps_sync_state(priority, last_synced_at) values (3, 1700000000000)"),
     schema(tbl("t", cols("z", "a", "c"), direct=True, indexes=[{"name": "ia", "columns": [{"name": "a", "ascending": True, "type": "text"}]}])),
     q(MASTER_T, "t"), q("select * from t"), q("select name, last_applied_op from ps_buckets"),
     q("select * from ps_sync_state")])

vec("direct/migrate-column-add-during-iteration",
    "Adding a column to a direct table while a sync iteration is active fails at the resync step with 'Cannot clear "
    "or trigger resync while a sync iteration is active.' (3091).",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("t", cols("a"), direct=True)), start(),
     schema_err(tbl("t", cols("a", "b"), direct=True)),
     ctl("stop"), schema(tbl("t", cols("a", "b"), direct=True)), q("select name from pragma_table_info('t')")])

vec("direct/migrate-column-drop-only",
    "Dropping a column of a direct table requests no resync: last_applied_op stays.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a", "b"), direct=True)), x("insert into ps_buckets(name, last_applied_op) values ('b', 5)"),
     schema(tbl("t", cols("a"), direct=True)), q(MASTER_T, "t"), q("select name, last_applied_op from ps_buckets")])

vec("direct/migrate-column-rename-case",
    "Columns match by exact name: renaming a to A adds column A, which SQLite refuses (duplicate column name: A, code 1).",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a"), direct=True)), schema_err(tbl("t", cols("A"), direct=True))])

# ============================================================================================
# §2.7 / §2.8 indexes, triggers, idempotence

vec("direct/index-cleanup-ps-managed",
    "Index clean-up also drops unwanted indexes whose SQL contains ' ps-managed ': a user index with that comment "
    "disappears, a plain user index on the same table survives, a removed schema index is dropped.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a", "b"), direct=True, indexes=[{"name": "ia", "columns": [{"name": "a", "ascending": True, "type": "text"}]}])),
     x('create index "x" /* ps-managed */ on t(a)'), x("create index user_idx on t(b)"),
     schema(tbl("t", cols("a", "b"), direct=True)),
     q("select name from sqlite_master where type = 'index' and tbl_name = 't' order by name")])

vec("direct/idempotent-schema",
    "Replacing the schema with the same direct table leaves PRAGMA schema_version unchanged; a type change alone "
    "changes nothing either; reordering columns regenerates the three triggers (+6) but keeps the table.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", [{"name": "a", "type": "text"}, {"name": "b", "type": "integer"}], direct=True)),
     q("pragma schema_version"),
     schema(tbl("t", [{"name": "a", "type": "text"}, {"name": "b", "type": "integer"}], direct=True)),
     q("pragma schema_version"),
     schema(tbl("t", [{"name": "a", "type": "integer"}, {"name": "b", "type": "real"}], direct=True)),
     q("pragma schema_version"),
     schema(tbl("t", [{"name": "b", "type": "integer"}, {"name": "a", "type": "text"}], direct=True)),
     q("pragma schema_version"), q(MASTER_T, "t")])

vec("direct/triggers-recreated-when-changed",
    "A changed option (include_old) drops the direct table's three triggers and recreates them (delete, insert, "
    "update); a user trigger on the table is left alone.",
    "docs/direct-tables-design.md",
    [INIT, schema(tbl("t", cols("a"), direct=True)),
     x("create trigger my_trig after insert on t begin select 1; end"),
     schema(tbl("t", cols("a"), direct=True, include_old=True)), q(MASTER_T, "t")])

# ============================================================================================
# §2.9 syncing into direct tables, §7 value binding

SYNC_ITEMS = tbl("items", cols("title", "qty"), direct=True)

vec("direct/sync-put-and-remove",
    "Synced rows of a direct table declared in start's schema go straight into the table (upsert; a later PUT "
    "overwrites every synced column, missing keys become NULL, unknown keys are ignored); REMOVE deletes; the "
    "triggers record nothing.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(SYNC_ITEMS), start([SYNC_ITEMS]),
     sync_ops([put(1, "items", "i1", {"title": "a", "qty": 1, "extra": 1}), put(2, "items", "i2", {"title": "b", "qty": 2})]),
     q("select id, title, qty, typeof(qty) from items order by id"),
     line({"checkpoint_diff": {"last_op_id": "4", "updated_buckets": [{"bucket": "b", "checksum": 4, "priority": 3, "count": 4}], "removed_buckets": []}}),
     line({"data": {"bucket": "b", "data": [put(3, "items", "i1", {"qty": 7}), remove(4, "items", "i2")]}}),
     line({"checkpoint_complete": {"last_op_id": "4"}}),
     q("select id, title, qty from items order by id"), q(CRUD), q(UNTYPED)])

vec("direct/sync-value-binding",
    "Values bound into direct-table columns: strings TEXT, integers within i64 INTEGER, other numbers REAL (3.0, 1e2, "
    "18446744073709551615), true/false 1/0, objects/arrays/null NULL.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("v", cols("title", "qty", "price", "ok", "meta", "tags", "big", "neg", "huge"), direct=True)),
     start([tbl("v", cols("title", "qty", "price", "ok", "meta", "tags", "big", "neg", "huge"), direct=True)]),
     sync_ops([put(1, "v", "i1", '{"title":"t","qty":3,"price":2.5,"ok":true,"meta":{"a":1},"tags":[1,2],"big":9007199254740993,"neg":-5,"huge":18446744073709551615,"extra":"x"}'),
               put(2, "v", "i2", '{"title":"u","qty":3.0,"ok":false,"price":1e2}')]),
     q("select id, title, qty, typeof(qty), price, typeof(price), ok, meta, tags, big, typeof(big), neg, huge, typeof(huge) from v order by id")])

vec("direct/sync-zero-columns",
    "A direct table without columns: the sync put is INSERT ... ON CONFLICT (id) DO NOTHING, so two PUTs of the "
    "same id leave one row.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("z", [], direct=True)), start([tbl("z", [], direct=True)]),
     sync_ops([put(1, "z", "a", {"x": 1}), put(2, "z", "a", {"x": 2})]), q("select * from z")])

vec("direct/sync-requires-start-schema",
    "The sync client learns direct tables only from start: without a schema in start, rows of that type go to "
    "ps_untyped even though the direct table exists.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(SYNC_ITEMS), start(),
     sync_ops([put(1, "items", "i1", {"title": "a"})]), q("select count(*) from items"), q(UNTYPED)])

vec("direct/sync-local-only-untyped",
    "A local-only direct table never receives synced rows, even when start lists it: they go to ps_untyped.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("loc", cols("a"), local_only=True, direct=True)),
     start([tbl("loc", cols("a"), local_only=True, direct=True)]),
     sync_ops([put(1, "loc", "r", {"a": "x"})]), q("select count(*) from loc"), q(UNTYPED)])

vec("direct/sync-raw-beats-direct",
    "Target precedence: a raw table from start with the same name wins over a direct table from start.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(SYNC_ITEMS), x("create table raw_items(id text primary key, title text)"),
     start([SYNC_ITEMS], raw=[{"name": "items", "put": {"sql": "INSERT OR REPLACE INTO raw_items(id, title) VALUES (?, ?)", "params": ["Id", {"Column": "title"}]},
                               "delete": {"sql": "DELETE FROM raw_items WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "items", "i1", {"title": "a"})]),
     q("select * from raw_items"), q("select count(*) from items")])

vec("direct/sync-direct-beats-json",
    "A start schema declaring x direct while the database still has the JSON table x makes the direct put target "
    "the view x and fail with 'cannot UPSERT a view' (the direct table wins over the JSON table).",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("x", cols("a"))), start([tbl("x", cols("a"), direct=True)]),
     sync_ops([put(1, "x", "r1", {"a": "v"})]), q("select count(*) from ps_data__x")])

vec("direct/sync-errors",
    "Errors while syncing into a direct table (iteration kept): data not JSON -> 'invalid local data' (11); not an "
    "object -> 'expected oplog data to be an object' (3091); a user trigger raising -> wrapped error with the "
    "context '(context: replacing into <name>, id = <id>, data = <op data verbatim>)' (1811).",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("dd", cols("a"), direct=True)), start([tbl("dd", cols("a"), direct=True)]),
     sync_ops([put(1, "dd", "r1", "not json")]),
     line({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "c", "checksum": 1}]}}),
     line({"data": {"bucket": "c", "data": [put(2, "dd", "r2", "[1]")]}}),
     line({"checkpoint_complete": {"last_op_id": "2"}}),
     x("delete from ps_oplog"), x("delete from ps_buckets"),
     x("create trigger boom before insert on dd begin select raise(abort, 'boom'); end"),
     sync_ops([put(3, "dd", "r1", '{"a": 1}')], bucket="d")])

vec("direct/sync-delete-error-context",
    "A failing delete from a direct table reports '(context: deleting from <name>, id = <id>)'.",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, schema(tbl("dd", cols("a"), direct=True)), start([tbl("dd", cols("a"), direct=True)]),
     sync_ops([put(1, "dd", "r1", '{"a": 1}')]),
     x("create trigger boom before delete on dd begin select raise(abort, 'boom'); end"),
     line({"checkpoint_diff": {"last_op_id": "2", "updated_buckets": [{"bucket": "b", "checksum": 2}], "removed_buckets": []}}),
     line({"data": {"bucket": "b", "data": [remove(2, "dd", "r1")]}}),
     line({"checkpoint_complete": {"last_op_id": "2"}})])

vec("direct/sync-table-missing",
    "A direct table from start that does not exist in the database: the put fails with 'no such table' (code 1, no "
    "context).",
    "docs/direct-tables-design.md",
    [INIT, CLIENT, start([tbl("gone", cols("a"), direct=True)]), sync_ops([put(1, "gone", "r1", '{"a": 1}')])])

vec("direct/sync-number-out-of-range",
    "A number that does not fit an f64 (1e400) makes the op data unparsable for a direct table: 'invalid local data: "
    "cause: number out of range ...' (11).",
    "docs/decisions.md",
    [INIT, CLIENT, schema(tbl("dd", cols("a"), direct=True)), start([tbl("dd", cols("a"), direct=True)]),
     sync_ops([put(1, "dd", "r1", '{"a": 1e400}')])])

# D5 (ours): direct -> JSON migration with a name that is not a plain identifier
vec("direct/ours-direct-to-json-quoted-name",
    "Our decision D5: a direct table named 'my t' becoming a JSON table has its name quoted in the data-moving SQL, "
    "so the migration succeeds and its rows move into ps_data__my t (the reference fails with 'near \"t\": syntax "
    "error').",
    "docs/decisions.md",
    [INIT, schema(tbl("my t", cols("a", "b"), direct=True)),
     x("insert into \"my t\"(id, a, b) values ('r1', 'x', 1)"), x("delete from ps_crud"),
     [x("begin"), q("select powersync_replace_schema(?)", j({"tables": [tbl("my t", cols("a", "b"))]}), rows=[[""]]), x("commit")],
     q("select id, data from \"ps_data__my t\"", rows=[["r1", '{"a":"x","b":1}']]),
     q("select id, a, b from \"my t\"", rows=[["r1", "x", "1"]]),
     q("select type from sqlite_master where name = 'my t'", rows=[["view"]]),
     q(UNTYPED, rows=[]), q(CRUD, rows=[])])

vec("direct/ours-direct-to-json-keyword-name",
    "Our decision D5: a direct table named order (an SQL keyword) becomes a JSON table and keeps its rows (the "
    "reference fails with 'near \".\": syntax error').",
    "docs/decisions.md",
    [INIT, schema(tbl("order", cols("a"), direct=True)),
     x("insert into \"order\"(id, a) values ('r1', 'x')"), x("delete from ps_crud"),
     [x("begin"), q("select powersync_replace_schema(?)", j({"tables": [tbl("order", cols("a"))]}), rows=[[""]]), x("commit")],
     q("select id, data from \"ps_data__order\"", rows=[["r1", '{"a":"x"}']])])

# ============================================================================================
# §3 CheckpointDelayedDueToLocalData, §4 priority-0 fallback

LOCAL = [schema(tbl("items", cols("name"))), x("insert into items(id, name) values ('local1', 'mine')")]

vec("sync/checkpoint-delayed-complete",
    "A checkpoint_complete refused by the local-write gate returns CheckpointDelayedDueToLocalData before the INFO "
    "LogLine; nothing is applied.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     sync_ops([put(1, "items", "s1", {"name": "server"})]),
     q("select id from ps_data__items order by id")])

vec("sync/checkpoint-delayed-partial",
    "A partial_checkpoint_complete with priority > 0 refused by the gate returns [CheckpointDelayedDueToLocalData] "
    "(0.5.3: []); nothing becomes pending and nothing is applied.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1, "priority": 1}]}}),
     line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "server"})]}}),
     line({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}}),
     q("select id from ps_data__items order by id"),
     ctl("completed_upload", None)])

vec("sync/checkpoint-delayed-not-on-checksum-failure",
    "A checksum failure with pending local data logs the checksum WARNING and closes the stream; no "
    "CheckpointDelayedDueToLocalData.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 99}]}}),
     line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "server"})]}}),
     line({"checkpoint_complete": {"last_op_id": "1"}})])

vec("sync/priority0-fallback",
    "All buckets at priority 0 and a complete checkpoint blocked by local data: the extension applies a priority-0 "
    "partial sync_local (rows written, last_applied_op set, ps_sync_state (0, now)) and emits an UpdateSyncStatus "
    "with the priority-0 entry; the checkpoint stays pending (downloading non-null, no DidCompleteSync).",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     sync_ops([put(1, "items", "s1", {"name": "a"}), put(2, "items", "s2", {"name": "b"})], bucket="b0", priority=0),
     q("select id from ps_data__items order by id"),
     q("select name, last_applied_op, last_op, count_at_last, count_since_last from ps_buckets"),
     q("select priority from ps_sync_state"),
     x("delete from ps_crud"), ctl("completed_upload", None)])

vec("sync/priority0-fallback-target-only",
    "The priority-0 fallback also applies when only target_checkpoint_request_id closes the gate (no ps_crud row).",
    "docs/decisions.md",
    [INIT, CLIENT, schema(tbl("items", cols("name"))), start(), ctl("target_checkpoint_request_id", "5"),
     sync_ops([put(1, "items", "s1", {"name": "a"})], bucket="b0", priority=0),
     q("select id from ps_data__items"), q("select priority from ps_sync_state")])

vec("sync/priority0-fallback-mixed-priorities",
    "No fallback when the checkpoint mixes priorities: a blocked complete checkpoint with buckets at 0 and 3 applies "
    "nothing.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     line({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "p0", "checksum": 1, "priority": 0}, {"bucket": "p3", "checksum": 1, "priority": 3}]}}),
     line({"data": {"bucket": "p0", "data": [put(1, "items", "s1", {"name": "a"})]}}),
     line({"data": {"bucket": "p3", "data": [put(2, "items", "s2", {"name": "b"})]}}),
     line({"checkpoint_complete": {"last_op_id": "2"}}),
     q("select id from ps_data__items order by id"), q("select * from ps_sync_state")])

# ============================================================================================
# §5 lifecycle

vec("sync/error-keeps-tracked-checkpoint",
    "An event error leaves the tracked checkpoint untouched: after a malformed line in the middle of a download the "
    "data and checkpoint_complete still apply.",
    "docs/decisions.md",
    [INIT, CLIENT, schema(tbl("items", cols("name"))), start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1}]}}),
     line("not json"),
     line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "a"})]}}),
     line({"checkpoint_complete": {"last_op_id": "1"}}),
     q("select id from ps_data__items")])

vec("sync/error-repeated-checkpoint-complete",
    "A failing checkpoint_complete (op data not an object for a raw table) can be repeated and fails the same way; "
    "the iteration stays active.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table r(id text primary key, a text)"),
     start([], raw=[{"name": "r", "table_name": "r"}]),
     sync_ops([put(1, "r", "x", "[1]")]),
     line({"checkpoint_complete": {"last_op_id": "1"}}),
     ctl("connection", "established")])

vec("sync/stop-after-error",
    "stop after an event error closes the iteration normally: disconnected UpdateSyncStatus then CloseSyncStream; a "
    "second stop returns [].",
    "docs/decisions.md",
    [INIT, CLIENT, start(), ctl("connection", "established"), line("garbage"), ctl("stop"), ctl("stop")])

vec("sync/clear-refused-until-stop",
    "powersync_clear(2) and powersync_trigger_resync keep failing while the iteration (kept after an error) is active; "
    "powersync_clear(0) does not check; after stop they work.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), line("garbage"),
     [x("begin"), q("select powersync_clear(2)"), x("rollback")],
     [x("begin"), q("select powersync_trigger_resync(0)"), x("rollback")],
     [x("begin"), q("select powersync_clear(0)"), x("commit")],
     ctl("stop"), [x("begin"), q("select powersync_clear(2)"), x("commit")]])

vec("sync/close-status-refreshed-token",
    "refreshed_token right after start: the disconnected UpdateSyncStatus comes right before CloseSyncStream "
    "(hide_disconnect true).",
    "docs/decisions.md",
    [INIT, CLIENT, start(), ctl("refreshed_token")])

vec("sync/close-status-token-expired",
    "token_expires_in 0 right after start: FetchCredentials{did_expire:true}, then the disconnected status, then "
    "CloseSyncStream.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), line({"token_expires_in": 0})])

vec("sync/close-status-resets-downloading",
    "Closing a connected iteration that is downloading: refreshed_token emits the disconnected status (connected "
    "false, downloading null) right before CloseSyncStream.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), ctl("connection", "established"),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1}]}}),
     ctl("refreshed_token")])

vec("sync/connected-data-line-first",
    "Only some events mark the status connected: a data line as the first event after start returns [] (0.5.3 "
    "reported connected).",
    "docs/decisions.md",
    [INIT, CLIENT, start(), line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "a"})]}}),
     ctl("completed_upload", None)])

vec("sync/connected-token-expires",
    "token_expires_in 600 as first event marks the status connected.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), line({"token_expires_in": 600})])

vec("sync/connected-unknown-line",
    "An unknown line marks the status connected: DEBUG 'Unknown sync line' then UpdateSyncStatus connected.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), line({"bogus_line": 1})])

vec("sync/connected-connection-established",
    "connection established marks the status connected; a later checkpoint keeps it.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), ctl("connection", "established"),
     line({"checkpoint": {"last_op_id": "1", "buckets": []}})])

vec("sync/connected-partial-refused",
    "A partial_checkpoint_complete refused by the gate as the first event after start marks the status connected "
    "(CheckpointDelayedDueToLocalData then UpdateSyncStatus).",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(), ctl("connection", "established"),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1, "priority": 1}]}}),
     ctl("refreshed_token"), start(),
     line({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}})])

vec("sync/start-failure-keeps-old-iteration",
    "start that fails while preparing (no client_id) returns the error and leaves the running iteration active: a "
    "following connection established is still accepted.",
    "docs/decisions.md",
    [INIT, CLIENT, start(), x("delete from ps_kv where key = 'client_id'"), start(),
     ctl("connection", "established")])

vec("sync/completed-upload-keeps-pending",
    "completed_upload keeps the pending checkpoint: with write_checkpoint 5 delayed by a local write and ps_crud "
    "emptied, completed_upload with target MAX returns [] and keeps it; after target 5 it applies.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     line({"checkpoint": {"last_op_id": "1", "write_checkpoint": "5", "buckets": [{"bucket": "b", "checksum": 1}]}}),
     line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "a"})]}}),
     line({"checkpoint_complete": {"last_op_id": "1"}}),
     x("delete from ps_crud"),
     ctl("completed_upload", None), ctl("target_checkpoint_request_id", "5"), ctl("completed_upload", None),
     q("select id from ps_data__items order by id"), ctl("completed_upload", None)])

vec("sync/completed-upload-retry-warning-repeats",
    "A failing completed_upload retry keeps the pending checkpoint and logs the WARNING each time.",
    "docs/decisions.md",
    [INIT, CLIENT] + LOCAL + [start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1}]}}),
     line({"data": {"bucket": "b", "data": [put(1, "items", "s1", {"name": "a"})]}}),
     line({"checkpoint_complete": {"last_op_id": "1"}}),
     ctl("target_checkpoint_request_id", None),
     ctl("completed_upload", None), ctl("completed_upload", None)])

vec("sync/partial-checksum-failure-text",
    "A checksum failure at partial_checkpoint_complete logs 'Could not apply checkpoint, Checksums didn't match, ...' "
    "then the disconnected status and CloseSyncStream.",
    "docs/decisions.md",
    [INIT, CLIENT, start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "p", "checksum": 77, "priority": 1}]}}),
     line({"data": {"bucket": "p", "data": [put(1, "items", "s1", {"name": "a"}, checksum=5)]}}),
     line({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}})])

# ============================================================================================
# §6 per-bucket progress reset

vec("sync/progress-reset-per-bucket",
    "On a checkpoint only buckets whose target count is below count_at_last + count_since_last are reset (in memory "
    "and in ps_buckets); the others keep their counters.",
    "docs/decisions.md",
    [INIT, CLIENT,
     x("insert into ps_buckets(name, count_at_last, count_since_last) values ('a', 10, 5), ('b', 3, 1), ('c', 7, 0)"),
     start(),
     line({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "a", "checksum": 0, "count": 12},
                                                        {"bucket": "b", "checksum": 0, "count": 10},
                                                        {"bucket": "c", "checksum": 0, "count": 2, "priority": 1}]}}),
     q("select name, count_at_last, count_since_last from ps_buckets order by name")])

# ============================================================================================
# §7 / §8 raw tables

vec("sync/raw-integer-binding",
    "Column params of raw tables bind JSON integers as INTEGER (0.5.3: REAL); 2.0 stays REAL; Rest keeps 2.0.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table todos(id text primary key, done any, rest text)"),
     start([], raw=[{"name": "todo", "put": {"sql": "INSERT OR REPLACE INTO todos(id, done, rest) VALUES (?, ?, ?)", "params": ["Id", {"Column": "done"}, "Rest"]},
                     "delete": {"sql": "DELETE FROM todos WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "todo", "t1", '{"done":2,"prio":2.0,"tags":["a"]}'), put(2, "todo", "t2", '{"done":2.0}')]),
     q("select id, done, typeof(done), rest from todos order by id")])

vec("sync/raw-inferred-put-only-id",
    "Inferred put for a table with only id: INSERT ... ON CONFLICT (id) DO NOTHING; two PUTs of o1 give one row, no "
    "error.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table onlyid(id text primary key)"),
     start([], raw=[{"name": "o", "table_name": "onlyid"}]),
     sync_ops([put(1, "o", "o1", '{"a":1}'), put(2, "o", "o1", '{"a":2}')]), q("select * from onlyid")])

vec("sync/raw-inferred-put-no-synced-column",
    "Inferred put when synced_columns leaves no column: DO NOTHING as well.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table t(id text primary key, local_col text)"),
     start([], raw=[{"name": "t", "table_name": "t", "synced_columns": ["nope"]}]),
     sync_ops([put(1, "t", "a", '{"local_col":"x"}'), put(2, "t", "a", '{"local_col":"y"}')]), q("select * from t")])

vec("sync/raw-row-param",
    "The \"Row\" param binds the op data text verbatim (TEXT): non-object and invalid JSON are accepted when the "
    "statement only uses Id/Row.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table docs(id text primary key, body text)"),
     start([], raw=[{"name": "doc", "put": {"sql": "INSERT OR REPLACE INTO docs(id, body) VALUES (?, ?)", "params": ["Id", "Row"]},
                     "delete": {"sql": "DELETE FROM docs WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "doc", "d1", '{"z": 1,  "a":[1]}'), put(2, "doc", "d2", "not json")]),
     q("select id, body, typeof(body) from docs order by id")])

vec("sync/raw-row-param-with-rest",
    "\"Row\" does not count as a referenced column for \"Rest\": Rest still holds every key.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table docs(id text primary key, body text, rest text)"),
     start([], raw=[{"name": "doc", "put": {"sql": "INSERT OR REPLACE INTO docs(id, body, rest) VALUES (?, ?, ?)", "params": ["Id", "Row", "Rest"]},
                     "delete": {"sql": "DELETE FROM docs WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "doc", "d1", '{"b":1,"a":2}')]), q("select * from docs")])

vec("sync/raw-row-param-in-delete",
    "\"Row\" in a delete statement fails like any non-Id source when a delete is needed.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table docs(id text primary key, body text)"),
     start([], raw=[{"name": "doc", "put": {"sql": "INSERT OR REPLACE INTO docs(id, body) VALUES (?, ?)", "params": ["Id", "Row"]},
                     "delete": {"sql": "DELETE FROM docs WHERE id = ? AND body = ?", "params": ["Id", "Row"]}}]),
     sync_ops([put(1, "doc", "d1", "{}")]),
     line({"checkpoint_diff": {"last_op_id": "2", "updated_buckets": [{"bucket": "b", "checksum": 2}], "removed_buckets": []}}),
     line({"data": {"bucket": "b", "data": [remove(2, "doc", "d1")]}}),
     line({"checkpoint_complete": {"last_op_id": "2"}})])

vec("schema/raw-param-unknown-variant-lists-row",
    "An unknown raw-table param source is rejected by the schema parser; the message lists Row among the variants.",
    "docs/decisions.md",
    [INIT, [x("begin"), q("select powersync_replace_schema(?)", j({"raw_tables": [{"name": "a", "put": {"sql": "x", "params": ["Bogus"]}, "delete": {"sql": "y", "params": ["Id"]}}]})), x("rollback")]])

vec("sync/raw-beats-json-table",
    "A raw table from start wins over an existing synced JSON table of the same name: rows go to the raw table, "
    "ps_data__todo stays empty.",
    "docs/decisions.md",
    [INIT, CLIENT, schema(tbl("todo", cols("title"))), x("create table todos(id text primary key, title text)"),
     start([], raw=[{"name": "todo", "put": {"sql": "INSERT OR REPLACE INTO todos(id, title) VALUES (?, ?)", "params": ["Id", {"Column": "title"}]},
                     "delete": {"sql": "DELETE FROM todos WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "todo", "t1", {"title": "a"})]),
     q("select * from todos"), q("select count(*) from ps_data__todo")])

vec("sync/raw-error-context-verbatim",
    "Execution errors of raw-table statements quote the op data text verbatim in the context.",
    "docs/decisions.md",
    [INIT, CLIENT, x("create table strictt(id text primary key, title text not null)"),
     start([], raw=[{"name": "st", "put": {"sql": "INSERT INTO strictt(id,title) VALUES (?,?)", "params": ["Id", {"Column": "title"}]},
                     "delete": {"sql": "DELETE FROM strictt WHERE id = ?", "params": ["Id"]}}]),
     sync_ops([put(1, "st", "s1", '{"x": 1, "b":2}')])])

vec("sync/json-table-write-error-context",
    "Writes into JSON tables now get the same context on execution errors: a user trigger on ps_data__jj raising "
    "'boom' -> '... REPLACE INTO \"ps_data__jj\"(id, data) VALUES (?, ?): ... boom (context: replacing into jj, id = "
    "r1, data = {\"a\": 1})'.",
    "docs/decisions.md",
    [INIT, CLIENT, schema(tbl("jj", cols("a"))),
     x("create trigger boom before insert on ps_data__jj begin select raise(abort, 'boom'); end"),
     start(), sync_ops([put(1, "jj", "r1", '{"a": 1}')])])

# ============================================================================================
# §9 powersync_create_raw_table_crud_trigger

vec("schema/raw-trigger-local-only",
    "local_only raw table: INSERT and DELETE produce no trigger (NULL, nothing created); UPDATE produces a trigger "
    "with only the id check; local writes record nothing.",
    "docs/decisions.md",
    [INIT, x("create table lo(id text primary key, v text)"),
     q("select powersync_create_raw_table_crud_trigger(?, 'lo_insert', 'INSERT')", j({"name": "lo", "table_name": "lo", "local_only": True})),
     q("select powersync_create_raw_table_crud_trigger(?, 'lo_update', 'UPDATE')", j({"name": "lo", "table_name": "lo", "local_only": True})),
     q("select powersync_create_raw_table_crud_trigger(?, 'lo_delete', 'DELETE')", j({"name": "lo", "table_name": "lo", "local_only": True, "insert_only": True})),
     q("select name, sql from sqlite_master where type = 'trigger' order by name"),
     x("insert into lo values ('a', '1')"), x("update lo set v = '2'"), q("update lo set id = 'b'"), x("delete from lo"),
     q(CRUD)])

vec("schema/raw-trigger-local-only-synced-columns",
    "local_only with synced_columns: the UPDATE trigger keeps the synced_columns WHEN clause and has only the id check.",
    "docs/decisions.md",
    [INIT, x("create table lo2(id text primary key, v text, w text)"),
     q("select powersync_create_raw_table_crud_trigger(?, 'lo2_update', 'UPDATE')", j({"name": "lo2", "table_name": "lo2", "local_only": True, "synced_columns": ["v"]})),
     q("select sql from sqlite_master where name = 'lo2_update'")])

vec("schema/raw-trigger-only-id-table",
    "A raw table with only id: the INSERT trigger records PUT with an empty json_object().",
    "docs/decisions.md",
    [INIT, x("create table onlyid(id text primary key)"),
     q("select powersync_create_raw_table_crud_trigger(?, 'oi_insert', 'INSERT')", j({"name": "onlyid", "table_name": "onlyid"})),
     q("select sql from sqlite_master where name = 'oi_insert'"),
     x("insert into onlyid values ('a')"), q(CRUD)])

vec("schema/raw-trigger-abort-undoes-id-change",
    "Raw-table UPDATE triggers use RAISE (ABORT, 'Cannot update id'): the id change is undone (0.5.3 with FAIL kept it).",
    "docs/decisions.md",
    [INIT, x("create table users(id text primary key, name text)"),
     q("select powersync_create_raw_table_crud_trigger(?, 'users_update', 'UPDATE')", j({"name": "user_rows", "table_name": "users"})),
     x("insert into users values ('u1', 'a')"),
     q("update users set id = 'u2'"), q("select * from users"), q(CRUD)])

vec("schema/json-view-triggers-keep-fail",
    "JSON-table view triggers keep RAISE (FAIL, ...) in 0.5.4.",
    "docs/decisions.md",
    [INIT, schema(tbl("t", cols("a"), insert_only=True)),
     q("select sql from sqlite_master where name = 'ps_view_update_t'")])

# ============================================================================================
# §10 json_merge

vec("functions/json-merge-skips-null",
    "powersync_json_merge skips SQL NULL arguments; other arguments are checked as before.",
    "docs/decisions.md",
    [q("select powersync_json_merge(NULL)", expect=[["{}"]]),
     q("select powersync_json_merge(NULL, NULL)", expect=[["{}"]]),
     q("""select powersync_json_merge('{"a":1}', NULL, '{"b":2}')""", expect=[['{"a":1,"b":2}']]),
     q("""select powersync_json_merge(NULL, '{}', '{"a":1}')""", expect=[['{"a":1}']]),
     q("""select powersync_json_merge('{"a":1}', NULL)""", expect=[['{"a":1}']]),
     q("select powersync_json_merge(1)"),
     q("select powersync_json_merge(NULL, '')")])

# ============================================================================================
# §11 powersync_clear with direct tables

CLEAR_SETUP = [INIT, schema(tbl("d", cols("a"), direct=True), tbl("dl", cols("a"), direct=True, local_only=True),
                            tbl("j", cols("a")), tbl("jl", cols("a"), local_only=True)),
               x("insert into d(id, a) values ('1', 'x'), ('2', 'y')"), x("insert into dl(id, a) values ('1', 'x')"),
               x("insert into j(id, a) values ('1', 'x')"), x("insert into jl(id, a) values ('1', 'x')"),
               x("delete from ps_crud"), q("select powersync_update_hooks('install')")]
CLEAR_AFTER = [q("select (select count(*) from d), (select count(*) from dl), (select count(*) from ps_data__j), (select count(*) from ps_data_local__jl)"),
               q("select powersync_update_hooks('get')"), q("select count(*) from ps_crud")]

for flags in (0, 1, 2):
    vec(f"crud/clear-direct-tables-flags-{flags}",
        f"powersync_clear({flags}) with synced and local-only direct and JSON tables: synced tables are always "
        "cleared, local-only ones only with bit 0x01; direct-table triggers record nothing (ps_crud stays empty); "
        "the update hook sees the direct tables (rows deleted one by one) and ps_tx.",
        "docs/decisions.md",
        CLEAR_SETUP + [[x("begin"), q(f"select powersync_clear({flags})"), x("commit")]] + CLEAR_AFTER)

vec("crud/clear-marker-table-without-id",
    "powersync_clear fails when a table carries the direct marker but has no id column.",
    "docs/decisions.md",
    [INIT, x('create table bad(k text /* ps-managed */)'), [x("begin"), q("select powersync_clear(1)"), x("rollback")]])

# ============================================================================================
# §12

vec("functions/offline-status-before-init-statement",
    "powersync_offline_sync_status() before powersync_init fails on the sync storage's first statement, now "
    "'SELECT id, name, count_at_last, count_since_last FROM ps_buckets'.",
    "docs/decisions.md",
    [q("select powersync_offline_sync_status()", prefix="powersync_offline_sync_status: statement ",
       note="internal SQL in an error: compared by prefix (test-vectors/README.md, Conventions)")])
