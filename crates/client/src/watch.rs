//! `watch`: re-running a query when a table it reads changes. Changes come from
//! `powersync_update_hooks` on the write connection (published by the pool after each write).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::Stream;
use rusqlite::Connection;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::db::pool::{Pool, TableChanges};
use crate::db::row::{collect_rows, Row, SqlValue};
use crate::error::Result;

pub(crate) const DEFAULT_THROTTLE: Duration = Duration::from_millis(30);

/// The tables `sql` reads, from the `OpenRead` opcodes of its `EXPLAIN` program; views resolve
/// to their underlying tables (for PowerSync views: `ps_data__<table>`).
pub(crate) fn tables_read(conn: &Connection, sql: &str) -> Result<BTreeSet<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {sql}"))?;
    let mut pages = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let opcode: String = r.get(1)?;
        if opcode == "OpenRead" || opcode == "OpenWrite" {
            // Columns: addr, opcode, p1, p2 (root page), p3 (database index), ...
            let p2: i64 = r.get(3)?;
            let p3: i64 = r.get(4)?;
            if p3 == 0 {
                pages.push(p2);
            }
        }
    }
    let mut lookup = conn.prepare_cached("SELECT tbl_name FROM sqlite_master WHERE rootpage = ?")?;
    let mut tables = BTreeSet::new();
    for p in pages {
        let names = lookup.query_map([p], |r| r.get::<_, String>(0))?;
        for n in names {
            tables.insert(n?);
        }
    }
    Ok(tables)
}

struct WatchState {
    pool: Pool,
    sql: String,
    params: Vec<SqlValue>,
    throttle: Duration,
    tables: Option<BTreeSet<String>>,
    changes: tokio::sync::broadcast::Receiver<TableChanges>,
    first: bool,
}

fn touches(tables: &Option<BTreeSet<String>>, changed: &TableChanges) -> bool {
    match tables {
        Some(t) => changed.iter().any(|c| t.contains(c)),
        None => true,
    }
}

pub(crate) fn watch(
    pool: Pool,
    sql: String,
    params: Vec<SqlValue>,
    throttle: Duration,
) -> impl Stream<Item = Result<Vec<Row>>> {
    let changes = pool.subscribe_changes();
    let state = WatchState {
        pool,
        sql,
        params,
        throttle,
        tables: None,
        changes,
        first: true,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.first {
            loop {
                match st.changes.recv().await {
                    Ok(ch) if touches(&st.tables, &ch) => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return None,
                }
            }
            // Throttle: merge the changes of the next `throttle` into this re-run.
            tokio::time::sleep(st.throttle).await;
            while let Ok(_) | Err(TryRecvError::Lagged(_)) = st.changes.try_recv() {}
        }
        st.first = false;
        let (sql, params, need_tables) = (st.sql.clone(), st.params.clone(), st.tables.is_none());
        let result = st
            .pool
            .read(move |c| {
                let tables = if need_tables { Some(tables_read(c, &sql)?) } else { None };
                let mut stmt = c.prepare_cached(&sql)?;
                Ok((tables, collect_rows(&mut stmt, &params)?))
            })
            .await;
        let item = match result {
            Ok((tables, rows)) => {
                if tables.is_some() {
                    st.tables = tables;
                }
                Ok(rows)
            }
            Err(e) => Err(e),
        };
        Some((item, st))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const SCHEMA: &str = r#"{"tables":[{"name":"lists","columns":[{"name":"name","type":"text"}]},{"name":"other","columns":[{"name":"x","type":"text"}]}]}"#;

    #[tokio::test]
    async fn resolves_view_tables_and_reruns_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open(&dir.path().join("w.db"), Some(SCHEMA), 1, false).unwrap();
        let tables = pool
            .read(|c| tables_read(c, "SELECT name FROM lists ORDER BY id"))
            .await
            .unwrap();
        assert!(tables.contains("ps_data__lists"), "{tables:?}");
        let mut w = Box::pin(watch(
            pool.clone(),
            "SELECT name FROM lists".into(),
            vec![],
            Duration::from_millis(5),
        ));
        assert!(w.next().await.unwrap().unwrap().is_empty());
        pool.write(|c| Ok(c.execute_batch("INSERT INTO other(id, x) VALUES ('o', 'y')")?))
            .await
            .unwrap();
        pool.write(|c| Ok(c.execute_batch("INSERT INTO lists(id, name) VALUES ('a', 'b')")?))
            .await
            .unwrap();
        let rows = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
}
