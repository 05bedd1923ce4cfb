use super::*;
use crate::schema::model::parse;

fn table(json: &str) -> Table {
    parse(json).unwrap().tables.remove(0)
}

#[test]
fn basic_table_matches_reference_text() {
    let t = table(
        r#"{"tables": [{"name": "lists", "columns": [{"name": "description", "type": "text"}, {"name": "count", "type": "integer"}, {"name": "price", "type": "real"}], "indexes": [{"name": "by_desc", "columns": [{"name": "description", "ascending": true, "type": "text"}, {"name": "count", "ascending": false, "type": "integer"}]}]}]}"#,
    );
    assert_eq!(
        view_sql(&t),
        r#"CREATE VIEW "lists"("id", "description", "count", "price") AS SELECT id, CAST(json_extract(data, '$.description') as text), CAST(json_extract(data, '$.count') as integer), CAST(json_extract(data, '$.price') as real) FROM "ps_data__lists" -- powersync-auto-generated"#
    );
    assert_eq!(
        index_sqls(&t),
        vec![(
            "ps_data__lists__by_desc".to_owned(),
            r#"CREATE INDEX "ps_data__lists__by_desc" ON "ps_data__lists"(CAST(json_extract(data, '$.description') as text), CAST(json_extract(data, '$.count') as integer) DESC)"#.to_owned()
        )]
    );
    let triggers = view_triggers(&t).unwrap();
    assert_eq!(
        triggers.delete,
        "CREATE TRIGGER \"ps_view_delete_lists\" INSTEAD OF DELETE ON \"lists\" FOR EACH ROW BEGIN\nDELETE FROM \"ps_data__lists\" WHERE id = OLD.id;\nINSERT INTO powersync_crud(op,id,type) VALUES ('DELETE', OLD.id, 'lists');\nEND"
    );
    assert_eq!(
        triggers.update,
        "CREATE TRIGGER \"ps_view_update_lists\" INSTEAD OF UPDATE ON \"lists\" FOR EACH ROW BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\nUPDATE \"ps_data__lists\" SET data = json_object('description', powersync_strip_subtype(NEW.\"description\"), 'count', powersync_strip_subtype(NEW.\"count\"), 'price', powersync_strip_subtype(NEW.\"price\")) WHERE id = NEW.id;\nINSERT INTO powersync_crud(op,id,type,data,options) VALUES ('PATCH', NEW.id, 'lists', json(powersync_diff(json_object('description', powersync_strip_subtype(OLD.\"description\"), 'count', powersync_strip_subtype(OLD.\"count\"), 'price', powersync_strip_subtype(OLD.\"price\")), json_object('description', powersync_strip_subtype(NEW.\"description\"), 'count', powersync_strip_subtype(NEW.\"count\"), 'price', powersync_strip_subtype(NEW.\"price\")))), 0);\nEND"
    );
}

#[test]
fn all_flags_synced_matches_reference_text() {
    let t = table(
        r#"{"tables": [{"name": "t", "include_metadata": true, "include_old": ["a"], "include_old_only_when_changed": true, "ignore_empty_update": true, "columns": [{"name": "a", "type": "text"}, {"name": "b", "type": "integer"}]}]}"#,
    );
    let triggers = view_triggers(&t).unwrap();
    assert_eq!(
        triggers.delete,
        "CREATE TRIGGER \"ps_view_delete_t\" INSTEAD OF DELETE ON \"t\" FOR EACH ROW BEGIN\nDELETE FROM \"ps_data__t\" WHERE id = OLD.id;\nINSERT INTO powersync_crud(op,id,type,old_values) VALUES ('DELETE', OLD.id, 't', json_object('a', powersync_strip_subtype(OLD.\"a\")));\nEND;\nCREATE TRIGGER \"ps_view_delete2_t\" INSTEAD OF UPDATE ON \"t\" FOR EACH ROW WHEN NEW._deleted IS TRUE BEGIN DELETE FROM \"ps_data__t\" WHERE id = OLD.id; INSERT INTO powersync_crud(op,id,type,old_values,metadata) VALUES ('DELETE', OLD.id, 't', json_object('a', powersync_strip_subtype(OLD.\"a\")), NEW._metadata);\nEND"
    );
    assert_eq!(
        triggers.update,
        "CREATE TRIGGER \"ps_view_update_t\" INSTEAD OF UPDATE ON \"t\" FOR EACH ROW  WHEN NEW._deleted IS NOT TRUE BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\nUPDATE \"ps_data__t\" SET data = json_object('a', powersync_strip_subtype(NEW.\"a\"), 'b', powersync_strip_subtype(NEW.\"b\")) WHERE id = NEW.id;\nINSERT INTO powersync_crud(op,id,type,data,old_values,metadata,options) VALUES ('PATCH', NEW.id, 't', json(powersync_diff(json_object('a', powersync_strip_subtype(OLD.\"a\"), 'b', powersync_strip_subtype(OLD.\"b\")), json_object('a', powersync_strip_subtype(NEW.\"a\"), 'b', powersync_strip_subtype(NEW.\"b\")))), json(powersync_diff(json_object('a', powersync_strip_subtype(NEW.\"a\")), json_object('a', powersync_strip_subtype(OLD.\"a\")))), NEW._metadata, 28);\nEND"
    );
}

#[test]
fn insert_only_trigger_has_no_newline_before_end() {
    let t =
        table(r#"{"tables": [{"name": "logs", "insert_only": true, "columns": [{"name": "msg", "type": "text"}]}]}"#);
    let triggers = view_triggers(&t).unwrap();
    assert!(triggers
        .insert
        .ends_with("json_object('msg', powersync_strip_subtype(NEW.\"msg\"))))));END"));
    assert_eq!(triggers.update, "");
    assert_eq!(triggers.delete, "");
}

#[test]
fn quoting_and_json_paths() {
    assert_eq!(json_path("co\"l'x"), "'$.co\"l''x'");
    assert_eq!(json_path("we[ir]d"), "'$.\"we[ir]d\"'");
    assert_eq!(json_path("a.b"), "'$.\"a.b\"'");
    assert_eq!(json_path("plain"), "'$.plain'");
    // Quoted labels with a quote or backslash are JSON-escaped (they read NULL otherwise).
    assert_eq!(json_path("co\"l'x[0].y"), r#"'$."co\"l''x[0].y"'"#);
    assert_eq!(json_path("a\\b.c"), r#"'$."a\\b.c"'"#);
}

#[test]
fn wide_fragments_split_in_fifties() {
    let names: Vec<String> = (0..52).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let f = json_fragment("NEW", &refs).unwrap();
    assert!(f.starts_with("powersync_json_merge(json_object('c0', "));
    assert!(f.contains("powersync_strip_subtype(NEW.\"c49\")), json_object('c50', "));
    let many: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(json_fragment("NEW", &refs).is_err());
    assert!(json_fragment("NEW", &refs[..1999]).is_ok());
}
