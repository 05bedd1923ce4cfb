//! Checkers over a finished run: no lost writes, convergence, read-your-writes, monotonic reads
//! and liveness. Row versions are ordered by the server's op ids (`observer::server_history`);
//! every written value is unique, so each value a client shows names one server version (or
//! several, when an upload was applied twice after a lost response).

use std::collections::{HashMap, HashSet};

use crate::history::{Entry, Event};
use crate::observer::{Rows, ServerVersion};
use crate::worker::WorkerState;
use crate::workload::value_owner;

pub struct Inputs {
    /// Every history entry (workers and runner), each client's in the order it wrote them.
    pub entries: Vec<Entry>,
    pub server_history: Vec<ServerVersion>,
    pub server_rows: Rows,
    /// The last state of each worker after the quiet period (`None`: it did not answer).
    pub finals: Vec<Option<WorkerState>>,
    /// Start of the run (ms since the epoch), for relative times.
    pub t0: u64,
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub kind: &'static str,
    pub message: String,
    /// The history around it (client entries touching the row, and faults meanwhile).
    pub context: Vec<Entry>,
}

type RowKey = (String, String);

/// `row -> value -> op ids` where the server stored that value.
fn positions(history: &[ServerVersion]) -> HashMap<RowKey, HashMap<Option<String>, Vec<i64>>> {
    let mut out: HashMap<RowKey, HashMap<Option<String>, Vec<i64>>> = HashMap::new();
    for h in history {
        out.entry((h.table.clone(), h.id.clone()))
            .or_default()
            .entry(h.v.clone())
            .or_default()
            .push(h.op_id);
    }
    out
}

/// The kind of the apply-around probe's violation.
pub const AROUND: &str = "apply around pending";

/// What one checker looked at: `checked` items of `unit`; its violations have kind `kind`
/// (the summary prints "lost writes: 0 of 1787 committed writes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub kind: &'static str,
    pub checked: usize,
    pub unit: &'static str,
}

impl Tally {
    /// `<kind>: <violations> of <checked> <unit>`.
    pub fn line(&self, violations: &[Violation]) -> String {
        let found = violations.iter().filter(|v| v.kind == self.kind).count();
        format!("{}: {found} of {} {}", self.kind, self.checked, self.unit)
    }
}

pub fn check(inp: &Inputs) -> Vec<Violation> {
    check_counted(inp).0
}

/// The violations, and what each checker covered.
pub fn check_counted(inp: &Inputs) -> (Vec<Violation>, Vec<Tally>) {
    let mut out = Vec::new();
    let writes = lost_writes(inp, &mut out);
    let (after_own_write, reads) = ordering(inp, &mut out);
    let rows = convergence(inp, &mut out);
    let clients = liveness(inp, &mut out);
    let tallies = vec![
        Tally {
            kind: "lost write",
            checked: writes,
            unit: "committed writes and deletes",
        },
        Tally {
            kind: "convergence",
            checked: rows,
            unit: "client rows compared with the server's after the quiet period",
        },
        Tally {
            kind: "read-your-writes",
            checked: after_own_write,
            unit: "reads of a row after an own write",
        },
        Tally {
            kind: "monotonic reads",
            checked: reads,
            unit: "reads",
        },
        Tally {
            kind: "liveness",
            checked: clients,
            unit: "clients after the quiet period",
        },
    ];
    (out, tallies)
}

/// The apply-around probe (docs/reliability.md): while `held` has the probe's pending write
/// `value`, every other row must show the server's version, and the status must count exactly
/// that one held row. Returns the rows compared and the differences (none: the probe passed).
pub fn around_probe_diffs(
    state: &WorkerState,
    server: &Rows,
    held: &(String, String),
    value: &str,
) -> (usize, Vec<String>) {
    let mut diffs = Vec::new();
    if state.pending_uploads == 0 {
        diffs.push("its probe write is not pending (uploads were to fail)".to_string());
    }
    if (state.held_rows, state.pending_rows) != (1, 1) {
        diffs.push(format!(
            "its status counts {} held row(s) and its diagnostics {}, not 1",
            state.held_rows, state.pending_rows
        ));
    }
    let pairs = row_pairs(&state.rows, server);
    for p in &pairs {
        if (p.table, p.id) == (held.0.as_str(), held.1.as_str()) {
            if p.mine != Some(&Some(value.to_string())) {
                diffs.push(format!(
                    "{}/{} (held): client {} / its pending write {value}",
                    p.table,
                    p.id,
                    show(p.mine)
                ));
            }
        } else if p.mine != p.theirs {
            diffs.push(p.describe());
        }
    }
    (pairs.len(), diffs)
}

/// One row of a client's tables next to the server's (`None`: no such row on that side).
struct RowPair<'a> {
    table: &'a str,
    id: &'a str,
    mine: Option<&'a Option<String>>,
    theirs: Option<&'a Option<String>>,
}

impl RowPair<'_> {
    fn describe(&self) -> String {
        format!(
            "{}/{}: client {} / server {}",
            self.table,
            self.id,
            show(self.mine),
            show(self.theirs)
        )
    }
}

/// Every row of either side, in table and id order.
fn row_pairs<'a>(mine: &'a Rows, theirs: &'a Rows) -> Vec<RowPair<'a>> {
    let mut out = Vec::new();
    let tables: std::collections::BTreeSet<&String> = mine.keys().chain(theirs.keys()).collect();
    for t in tables {
        let (m, o) = (mine.get(t), theirs.get(t));
        let ids: std::collections::BTreeSet<&String> = m
            .into_iter()
            .flat_map(|r| r.keys())
            .chain(o.into_iter().flat_map(|r| r.keys()))
            .collect();
        for id in ids {
            out.push(RowPair {
                table: t,
                id,
                mine: m.and_then(|r| r.get(id)),
                theirs: o.and_then(|r| r.get(id)),
            });
        }
    }
    out
}

/// `(client, value)` of every write or delete whose upload the backend rejected (a 4xx the
/// worker logged before discarding the transaction).
fn rejected(inp: &Inputs) -> HashSet<(usize, &str)> {
    let mut out = HashSet::new();
    for e in &inp.entries {
        if let (Some(c), Event::Upload { phase, values, .. }) = (e.client, &e.event) {
            if phase == "rejected" {
                out.extend(values.iter().map(|v| (c, v.as_str())));
            }
        }
    }
    out
}

/// A committed write is lost when the server never stored it and its upload was not rejected.
/// A delete has no value on the server: it counts as applied when the server removed the row at
/// an op after the version the transaction deleted (the first op storing the value it read), so
/// two deletes of one version are not told apart (their outcome is the same).
/// Returns the number of committed writes and deletes checked.
fn lost_writes(inp: &Inputs, out: &mut Vec<Violation>) -> usize {
    let mut checked = 0;
    let stored: HashSet<&str> = inp.server_history.iter().filter_map(|h| h.v.as_deref()).collect();
    let pos = positions(&inp.server_history);
    let rejected = rejected(inp);
    for e in &inp.entries {
        let Event::Ok { op, reads, writes } = &e.event else {
            continue;
        };
        let c = e.client.unwrap_or(0);
        for w in writes {
            checked += 1;
            let key = (w.table.clone(), w.id.clone());
            let applied = if w.delete {
                let versions = pos.get(&key);
                let deleted = reads
                    .iter()
                    .find(|r| (&r.table, &r.id) == (&w.table, &w.id))
                    .map(|r| &r.v);
                let after = deleted
                    .and_then(|v| versions?.get(v)?.iter().copied().min())
                    .unwrap_or(0);
                versions
                    .and_then(|m| m.get(&None))
                    .is_some_and(|removes| removes.iter().any(|p| *p > after))
            } else {
                stored.contains(w.v.as_str())
            };
            if applied || rejected.contains(&(c, w.v.as_str())) {
                continue;
            }
            let what = if w.delete {
                format!("the delete of {}/{} (token {})", w.table, w.id, w.v)
            } else {
                format!("{}/{} := {}", w.table, w.id, w.v)
            };
            out.push(Violation {
                kind: "lost write",
                message: format!(
                    "{what} was committed by c{c} ({op} at +{} ms) but never reached the server, and no upload of it was rejected",
                    e.t.saturating_sub(inp.t0)
                ),
                context: context(inp, e.client, &key, std::slice::from_ref(&w.v), e.t, e.t),
            });
        }
    }
    checked
}

/// The version a client showed must never be older than one it showed before, or than its own
/// committed write (read-your-writes); pending own writes count as the version they become.
/// "No row" is the version before the row's first op or the one of any of its REMOVE ops, or
/// the client's own delete while it is pending.
/// Returns `(reads with an own write as their floor, all reads)` checked.
fn ordering(inp: &Inputs, out: &mut Vec<Violation>) -> (usize, usize) {
    let (mut after_own_write, mut checked) = (0, 0);
    let pos = positions(&inp.server_history);
    let rejected = rejected(inp);
    let clients: std::collections::BTreeSet<usize> = inp.entries.iter().filter_map(|e| e.client).collect();
    for c in clients {
        // row -> (op id of the floor, what set it, when)
        let mut floor: HashMap<RowKey, (i64, String, u64)> = HashMap::new();
        let mut reported: HashSet<RowKey> = HashSet::new();
        // Rows this client deleted and has shown no value of since.
        let mut own_deletes: HashSet<RowKey> = HashSet::new();
        for e in inp.entries.iter().filter(|e| e.client == Some(c)) {
            let Event::Ok { reads, writes, .. } = &e.event else {
                continue;
            };
            // Rows whose read in this entry was a server version (not an own pending value).
            let mut read_on_server: HashSet<RowKey> = HashSet::new();
            for r in reads {
                let key = (r.table.clone(), r.id.clone());
                let (f, why, since) = floor.get(&key).cloned().unwrap_or((0, String::new(), e.t));
                checked += 1;
                if why.starts_with("own ") {
                    after_own_write += 1;
                }
                let candidates: Vec<i64> = match &r.v {
                    // Its own pending delete: the REMOVE it becomes (if any, it may be rejected)
                    // cannot be told from the others, so it sets no floor, like an own value
                    // not on the server yet.
                    None if own_deletes.contains(&key) => vec![i64::MAX],
                    // Any REMOVE may be the one shown; the first one at or above the floor is
                    // never newer than the one shown, so it is a safe floor.
                    None => {
                        let mut at = vec![0];
                        at.extend(pos.get(&key).and_then(|m| m.get(&None)).into_iter().flatten());
                        at
                    }
                    Some(v) => pos.get(&key).and_then(|m| m.get(&r.v)).cloned().unwrap_or_else(|| {
                        // Not on the server (yet): only an own write can be shown like that,
                        // and a lost one is reported as such.
                        if value_owner(v).map(|o| o.0) == Some(c) {
                            vec![i64::MAX]
                        } else {
                            vec![]
                        }
                    }),
                };
                if r.v.is_some() {
                    own_deletes.remove(&key);
                }
                let Some(p) = candidates.iter().copied().filter(|p| *p >= f).min() else {
                    if reported.insert(key.clone()) {
                        let shown = r.v.as_deref().unwrap_or("nothing (no row)");
                        let (kind, cause) = if why.starts_with("own ") {
                            ("read-your-writes", why.clone())
                        } else {
                            ("monotonic reads", why.clone())
                        };
                        let mut vals = vec![];
                        if let Some(v) = &r.v {
                            vals.push(v.clone());
                        }
                        if let Some(v) = why.split_whitespace().last() {
                            vals.push(v.to_string());
                        }
                        out.push(Violation {
                            kind,
                            message: format!(
                                "c{c} showed {}/{} = {shown} at +{} ms (server op {}), older than {cause} (server op {f})",
                                r.table,
                                r.id,
                                e.t.saturating_sub(inp.t0),
                                candidates.iter().max().map(|p| p.to_string()).unwrap_or_else(|| "none".into()),
                            ),
                            context: context(inp, Some(c), &key, &vals, since, e.t),
                        });
                    }
                    continue;
                };
                if p != i64::MAX {
                    if r.v.is_some() {
                        read_on_server.insert(key.clone());
                    }
                    floor.insert(
                        key,
                        (
                            p,
                            format!("a version it showed before: {}", r.v.as_deref().unwrap_or("nil")),
                            e.t,
                        ),
                    );
                }
            }
            for w in writes {
                let key = (w.table.clone(), w.id.clone());
                let f = floor.get(&key).map(|x| x.0).unwrap_or(0);
                if w.delete {
                    own_deletes.insert(key.clone());
                    // The first REMOVE after the version it deleted is at or before the one this
                    // delete caused (or met, when the row was already gone), so it is a safe
                    // floor, but only when that version was the server's (an own pending value
                    // may never have been stored) and the delete was not rejected.
                    if !read_on_server.contains(&key) || rejected.contains(&(c, w.v.as_str())) {
                        continue;
                    }
                    let at = pos
                        .get(&key)
                        .and_then(|m| m.get(&None))
                        .and_then(|ps| ps.iter().copied().filter(|p| *p > f).min());
                    if let Some(p) = at {
                        floor.insert(key, (p, format!("own delete {}", w.v), e.t));
                    }
                    continue;
                }
                own_deletes.remove(&key);
                let at = pos
                    .get(&key)
                    .and_then(|m| m.get(&Some(w.v.clone())))
                    .and_then(|ps| ps.iter().copied().filter(|p| *p >= f).min());
                if let Some(p) = at {
                    floor.insert(key, (p, format!("own write {}", w.v), e.t));
                }
            }
        }
    }
    (after_own_write, checked)
}

/// Returns the number of client rows compared.
fn convergence(inp: &Inputs, out: &mut Vec<Violation>) -> usize {
    let mut compared = 0;
    for (c, fin) in inp.finals.iter().enumerate() {
        let Some(fin) = fin else { continue };
        let pairs = row_pairs(&fin.rows, &inp.server_rows);
        compared += pairs.len();
        let diffs: Vec<String> = pairs
            .iter()
            .filter(|p| p.mine != p.theirs)
            .map(RowPair::describe)
            .collect();
        if !diffs.is_empty() {
            out.push(Violation {
                kind: "convergence",
                message: format!("c{c}'s tables differ from the server's: {}", diffs.join("; ")),
                context: last_events(inp, c, 15),
            });
        }
    }
    compared
}

fn show(v: Option<&Option<String>>) -> String {
    match v {
        None => "no row".into(),
        Some(None) => "NULL".into(),
        Some(Some(s)) => s.clone(),
    }
}

/// Returns the number of clients checked.
fn liveness(inp: &Inputs, out: &mut Vec<Violation>) -> usize {
    for (c, fin) in inp.finals.iter().enumerate() {
        let mut problems = Vec::new();
        match fin {
            None => problems.push("it did not answer for its state".to_string()),
            Some(s) => {
                if s.pending_uploads != 0 {
                    problems.push(format!("{} change(s) still queued for upload", s.pending_uploads));
                }
                if s.downloading {
                    problems.push("`downloading` is still true".into());
                }
                if s.held_rows != 0 || s.pending_rows != 0 {
                    problems.push(format!(
                        "rows still held at their local version (status {}, diagnostics {})",
                        s.held_rows, s.pending_rows
                    ));
                }
                if !s.connected {
                    problems.push("not connected".into());
                }
                if let Some(e) = &s.upload_error {
                    problems.push(format!("upload error: {e}"));
                }
                if let Some(e) = &s.download_error {
                    problems.push(format!("download error: {e}"));
                }
                if !s.has_synced {
                    problems.push("never completed a sync".into());
                }
            }
        }
        if !problems.is_empty() {
            out.push(Violation {
                kind: "liveness",
                message: format!("c{c} did not settle after the quiet period: {}", problems.join("; ")),
                context: last_events(inp, c, 15),
            });
        }
    }
    inp.finals.len()
}

/// The client's entries touching `row` (or the values) between `from` and `to`, with the
/// runner's fault entries in that window; at most 40 lines (the last ones).
fn context(inp: &Inputs, client: Option<usize>, row: &RowKey, values: &[String], from: u64, to: u64) -> Vec<Entry> {
    let (lo, hi) = (from.saturating_sub(1000), to.saturating_add(1000));
    let touches = |e: &Entry| match &e.event {
        Event::Invoke { writes, .. } => writes.iter().any(|w| (&w.table, &w.id) == (&row.0, &row.1)),
        Event::Ok { reads, writes, .. } => {
            reads.iter().any(|r| (&r.table, &r.id) == (&row.0, &row.1))
                || writes.iter().any(|w| (&w.table, &w.id) == (&row.0, &row.1))
        }
        Event::Upload { values: vs, .. } => vs.iter().any(|v| values.contains(v)),
        Event::Start { .. } | Event::Fail { .. } => true,
        Event::Nemesis { .. } | Event::Note { .. } => true,
    };
    // Uploads carrying the values count at any time: they tell where a write went.
    let carries =
        |e: &Entry| matches!(&e.event, Event::Upload { values: vs, .. } if vs.iter().any(|v| values.contains(v)));
    let picked: Vec<Entry> = inp
        .entries
        .iter()
        .filter(|e| (e.t >= lo && e.t <= hi) || (e.client == client && carries(e)))
        .filter(|e| match e.client {
            None => true,
            Some(c) => Some(c) == client && touches(e),
        })
        .filter(|e| !matches!(e.event, Event::Fail { .. }) || e.client == client)
        .cloned()
        .collect();
    let skip = picked.len().saturating_sub(40);
    let mut picked: Vec<Entry> = picked.into_iter().skip(skip).collect();
    picked.sort_by_key(|e| e.t);
    picked
}

fn last_events(inp: &Inputs, c: usize, n: usize) -> Vec<Entry> {
    let mine: Vec<&Entry> = inp
        .entries
        .iter()
        .filter(|e| e.client == Some(c) || e.client.is_none())
        .collect();
    mine[mine.len().saturating_sub(n)..]
        .iter()
        .map(|e| (*e).clone())
        .collect()
}

/// The report of one violation: what, the history around it, and how to replay it.
pub fn render(v: &Violation, inp: &Inputs, replay: &str) -> String {
    let mut s = format!("VIOLATION [{}] {}\n  history (ms since start):\n", v.kind, v.message);
    // Runs of the same event (a retried upload) are shown once with a count.
    let mut i = 0;
    while i < v.context.len() {
        let same = |a: &Entry, b: &Entry| a.client == b.client && a.inc == b.inc && a.event == b.event;
        let mut j = i + 1;
        while j < v.context.len()
            && (same(&v.context[j], &v.context[i])
                || (j + 1 < v.context.len() && same(&v.context[j + 1], &v.context[j - 1])))
        {
            j += 1;
        }
        let mut e = v.context[i].clone();
        e.t = e.t.saturating_sub(inp.t0);
        s.push_str(&format!("    {e}\n"));
        if j - i > 1 {
            s.push_str(&format!(
                "    ... and {} more like it until +{} ms\n",
                j - i - 1,
                v.context[j - 1].t.saturating_sub(inp.t0)
            ));
        }
        i = j;
    }
    s.push_str(&format!("  replay: {replay}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Read1, Write1};

    fn ok(t: u64, c: usize, reads: Vec<(&str, Option<&str>)>, writes: Vec<(&str, &str)>) -> Entry {
        Entry {
            t,
            client: Some(c),
            inc: 0,
            event: Event::Ok {
                op: "txn".into(),
                reads: reads
                    .into_iter()
                    .map(|(id, v)| Read1 {
                        table: "items".into(),
                        id: id.into(),
                        v: v.map(String::from),
                    })
                    .collect(),
                writes: writes
                    .into_iter()
                    .map(|(id, v)| match v.strip_prefix("del ") {
                        Some(token) => Write1 {
                            table: "items".into(),
                            id: id.into(),
                            v: token.into(),
                            delete: true,
                        },
                        None => Write1 {
                            table: "items".into(),
                            id: id.into(),
                            v: v.into(),
                            delete: false,
                        },
                    })
                    .collect(),
            },
        }
    }

    /// An upload of `values` by client `c` that the backend rejected.
    fn rejected(t: u64, c: usize, values: &[&str]) -> Entry {
        Entry {
            t,
            client: Some(c),
            inc: 0,
            event: Event::Upload {
                phase: "rejected".into(),
                values: values.iter().map(|v| v.to_string()).collect(),
                error: Some("HTTP 422: refused".into()),
            },
        }
    }

    fn removed(op_id: i64, id: &str) -> ServerVersion {
        ServerVersion {
            op_id,
            table: "items".into(),
            id: id.into(),
            v: None,
        }
    }

    fn sv(op_id: i64, id: &str, v: &str) -> ServerVersion {
        ServerVersion {
            op_id,
            table: "items".into(),
            id: id.into(),
            v: Some(v.into()),
        }
    }

    fn inputs(entries: Vec<Entry>, hist: Vec<ServerVersion>) -> Inputs {
        let mut rows = Rows::new();
        for h in &hist {
            let t = rows.entry(h.table.clone()).or_default();
            match &h.v {
                Some(_) => t.insert(h.id.clone(), h.v.clone()),
                None => t.remove(&h.id),
            };
        }
        let fin = WorkerState {
            rows: rows.clone(),
            connected: true,
            has_synced: true,
            ..WorkerState::default()
        };
        Inputs {
            entries,
            server_history: hist,
            server_rows: rows,
            finals: vec![Some(fin.clone()), Some(fin)],
            t0: 0,
        }
    }

    fn kinds(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn each_checker_says_what_it_counted() {
        let e = vec![
            ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")]),
            ok(2, 0, vec![("k1", Some("c0.0.1"))], vec![]),
            ok(3, 1, vec![("k1", Some("c0.0.1")), ("k2", None)], vec![]),
        ];
        let inp = inputs(e, vec![sv(1, "k1", "c0.0.1")]);
        let (found, tallies) = check_counted(&inp);
        assert!(found.is_empty());
        let lines: Vec<String> = tallies.iter().map(|t| t.line(&found)).collect();
        assert_eq!(
            lines,
            [
                "lost write: 0 of 1 committed writes and deletes",
                "convergence: 0 of 2 client rows compared with the server's after the quiet period",
                "read-your-writes: 0 of 1 reads of a row after an own write",
                "monotonic reads: 0 of 4 reads",
                "liveness: 0 of 2 clients after the quiet period",
            ]
        );
    }

    #[test]
    fn the_around_probe_wants_server_versions_around_the_held_row() {
        let versions = [("k0", "srv0"), ("k1", "srv1")];
        let server: Rows = [(
            "items".to_string(),
            versions
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
        )]
        .into_iter()
        .collect();
        let held = ("items".to_string(), "k0".to_string());
        let mut state = WorkerState {
            rows: server.clone(),
            pending_uploads: 1,
            held_rows: 1,
            pending_rows: 1,
            ..WorkerState::default()
        };
        fn items(s: &mut WorkerState) -> &mut std::collections::BTreeMap<String, Option<String>> {
            s.rows.get_mut("items").unwrap()
        }
        items(&mut state).insert("k0".into(), Some("c0.0.probe".into()));
        assert_eq!(around_probe_diffs(&state, &server, &held, "c0.0.probe"), (2, vec![]));
        // Held back as with the setting off: the row without a pending write is still old.
        items(&mut state).insert("k1".into(), Some("old".into()));
        assert_eq!(
            around_probe_diffs(&state, &server, &held, "c0.0.probe").1,
            ["items/k1: client old / server srv1"]
        );
        // The held row showing the server's version instead of the pending write.
        items(&mut state).insert("k1".into(), Some("srv1".into()));
        items(&mut state).insert("k0".into(), Some("srv0".into()));
        state.held_rows = 0;
        assert_eq!(
            around_probe_diffs(&state, &server, &held, "c0.0.probe").1,
            [
                "its status counts 0 held row(s) and its diagnostics 1, not 1",
                "items/k0 (held): client srv0 / its pending write c0.0.probe"
            ]
        );
    }

    #[test]
    fn a_clean_history_passes() {
        let e = vec![
            ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")]),
            ok(2, 0, vec![("k1", Some("c0.0.1"))], vec![]),
            ok(3, 1, vec![("k1", Some("c0.0.1"))], vec![("k1", "c1.0.1")]),
            ok(4, 0, vec![("k1", Some("c1.0.1"))], vec![]),
        ];
        let h = vec![sv(1, "k1", "c0.0.1"), sv(2, "k1", "c1.0.1")];
        assert!(check(&inputs(e, h)).is_empty());
    }

    #[test]
    fn a_write_missing_on_the_server_is_lost() {
        let e = vec![ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")])];
        assert_eq!(kinds(&check(&inputs(e, vec![]))), vec!["lost write"]);
    }

    #[test]
    fn an_own_write_reverted_breaks_read_your_writes() {
        let e = vec![
            ok(1, 1, vec![("k1", None)], vec![("k1", "c1.0.1")]),
            ok(2, 0, vec![("k1", Some("c1.0.1"))], vec![("k1", "c0.0.1")]),
            ok(3, 0, vec![("k1", Some("c1.0.1"))], vec![]),
        ];
        let h = vec![sv(1, "k1", "c1.0.1"), sv(2, "k1", "c0.0.1")];
        let mut inp = inputs(e, h);
        inp.finals.truncate(2);
        assert_eq!(kinds(&check(&inp)), vec!["read-your-writes"]);
    }

    #[test]
    fn going_back_to_an_older_server_version_breaks_monotonic_reads() {
        let e = vec![
            ok(1, 1, vec![("k1", None)], vec![("k1", "c1.0.1")]),
            ok(2, 1, vec![("k1", Some("c1.0.1"))], vec![("k1", "c1.0.2")]),
            ok(3, 0, vec![("k1", Some("c1.0.2"))], vec![]),
            ok(4, 0, vec![("k1", Some("c1.0.1"))], vec![]),
        ];
        let h = vec![sv(1, "k1", "c1.0.1"), sv(2, "k1", "c1.0.2")];
        assert_eq!(kinds(&check(&inputs(e, h))), vec!["monotonic reads"]);
    }

    #[test]
    fn a_value_applied_twice_may_be_seen_again() {
        // c1's upload was applied, its answer lost, and it was applied again after c0's.
        let e = vec![
            ok(1, 0, vec![("k1", Some("c1.0.1"))], vec![]),
            ok(2, 0, vec![("k1", Some("c0.0.1"))], vec![]),
            ok(3, 0, vec![("k1", Some("c1.0.1"))], vec![]),
        ];
        let h = vec![sv(1, "k1", "c1.0.1"), sv(2, "k1", "c0.0.1"), sv(3, "k1", "c1.0.1")];
        assert!(check(&inputs(e, h)).is_empty());
    }

    #[test]
    fn a_rejected_write_is_exempt_and_only_that_one() {
        // c0's first value was rejected by the backend; its second was neither stored nor
        // rejected; c1's rejection of a value does not cover c0's value.
        let e = vec![
            ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")]),
            rejected(2, 0, &["c0.0.1"]),
            ok(3, 0, vec![("k2", None)], vec![("k2", "c0.0.2")]),
            rejected(4, 1, &["c0.0.2"]),
        ];
        let v = check(&inputs(e, vec![]));
        assert_eq!(kinds(&v), vec!["lost write"]);
        assert!(v[0].message.contains("items/k2 := c0.0.2"), "{}", v[0].message);
    }

    #[test]
    fn a_delete_counts_when_the_server_removed_the_row_after_the_deleted_version() {
        let e = vec![
            ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")]),
            ok(2, 0, vec![("k1", Some("c0.0.1"))], vec![("k1", "del c0.0.2")]),
            // Its own pending delete shows no row; so does the server's REMOVE to c1.
            ok(3, 0, vec![("k1", None)], vec![]),
            ok(4, 1, vec![("k1", Some("c0.0.1"))], vec![]),
            ok(5, 1, vec![("k1", None)], vec![]),
        ];
        let h = vec![sv(1, "k1", "c0.0.1"), removed(2, "k1")];
        assert!(check(&inputs(e.clone(), h)).is_empty());

        // Not removed after the version it deleted: lost (and c1 never saw a REMOVE).
        let h = vec![removed(1, "k1"), sv(2, "k1", "c0.0.1")];
        let v = check(&inputs(e.clone(), h.clone()));
        assert!(v[0].kind == "lost write" && v[0].message.contains("the delete of items/k1 (token c0.0.2)"));
        assert!(kinds(&v).contains(&"monotonic reads"), "{:?}", kinds(&v));

        // The same delete rejected by the backend: exempt, and the row is back for everyone.
        let mut e = e[..2].to_vec();
        e.push(rejected(3, 0, &["c0.0.2"]));
        e.push(ok(4, 0, vec![("k1", Some("c0.0.1"))], vec![]));
        assert!(check(&inputs(e, vec![sv(1, "k1", "c0.0.1")])).is_empty());
    }

    #[test]
    fn no_row_after_a_newer_version_needs_a_remove_after_it() {
        let e = vec![
            ok(1, 1, vec![("k1", Some("c1.0.1"))], vec![]),
            ok(2, 1, vec![("k1", None)], vec![]),
            ok(3, 1, vec![("k1", Some("c0.0.2"))], vec![]),
            ok(4, 1, vec![("k1", None)], vec![]),
        ];
        // Stored, removed, stored again: the last "no row" is older than c0.0.2.
        let h = vec![sv(1, "k1", "c1.0.1"), removed(2, "k1"), sv(3, "k1", "c0.0.2")];
        let mut inp = inputs(e.clone(), h);
        inp.finals.truncate(2);
        assert_eq!(kinds(&check(&inp)), vec!["monotonic reads"]);
        // Removed again afterwards: fine.
        let h = vec![
            sv(1, "k1", "c1.0.1"),
            removed(2, "k1"),
            sv(3, "k1", "c0.0.2"),
            removed(4, "k1"),
        ];
        assert!(check(&inputs(e, h)).is_empty());
    }

    #[test]
    fn an_own_pending_delete_sets_no_floor() {
        // c0's delete was rejected; while it was pending c0 showed no row, which must not be
        // taken for c1's later REMOVE: c0 showing c1.0.1 again afterwards is fine.
        let e = vec![
            ok(1, 0, vec![("k1", Some("c1.0.1"))], vec![("k1", "del c0.0.1")]),
            ok(2, 0, vec![("k1", None)], vec![]),
            rejected(3, 0, &["c0.0.1"]),
            ok(4, 0, vec![("k1", Some("c1.0.1"))], vec![]),
            ok(5, 1, vec![("k1", Some("c1.0.1"))], vec![("k1", "del c1.0.2")]),
        ];
        let h = vec![sv(1, "k1", "c1.0.1"), removed(2, "k1")];
        assert!(check(&inputs(e, h)).is_empty());
    }

    #[test]
    fn after_an_own_delete_the_deleted_version_is_not_shown_again() {
        let e = vec![
            ok(1, 0, vec![("k1", Some("c1.0.1"))], vec![("k1", "del c0.0.1")]),
            ok(2, 0, vec![("k1", Some("c1.0.1"))], vec![]),
        ];
        let h = vec![sv(1, "k1", "c1.0.1"), removed(2, "k1")];
        assert_eq!(kinds(&check(&inputs(e, h))), vec!["read-your-writes"]);
    }

    #[test]
    fn divergent_tables_and_stuck_queues_are_reported() {
        let e = vec![ok(1, 0, vec![("k1", None)], vec![("k1", "c0.0.1")])];
        let mut inp = inputs(e, vec![sv(1, "k1", "c0.0.1")]);
        if let Some(f) = inp.finals[1].as_mut() {
            f.rows.clear();
            f.pending_uploads = 2;
        }
        assert_eq!(kinds(&check(&inp)), vec!["convergence", "liveness"]);
    }
}
