//! `powersync-faults`: convergence under faults. A fault proxy between the clients and the test
//! service, worker processes running random transactions through the powersync-client library,
//! a nemesis scheduled from a seed (partitions, stalls, kills, pauses, short tokens, service
//! faults and restarts), and checkers over the recorded history.

pub mod checker;
pub mod history;
pub mod observer;
pub mod proxy;
pub mod runner;
pub mod schedule;
pub mod worker;
pub mod workload;
