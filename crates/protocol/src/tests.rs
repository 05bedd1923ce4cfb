//! Every instruction and the status: the exact JSON the core writes, and that JSON read back
//! into the same values (what a client does).

use serde_json::value::RawValue;

use crate::instruction::*;
use crate::status::*;

fn raw(text: &str) -> Option<Box<RawValue>> {
    Some(RawValue::from_string(text.to_owned()).unwrap())
}

fn full_status() -> SyncStatus {
    SyncStatus {
        connected: true,
        connecting: false,
        priority_status: vec![
            PriorityStatus {
                priority: 1,
                last_synced_at: Some(1795315205000000),
                has_synced: Some(true),
            },
            PriorityStatus {
                priority: FULL_SYNC_PRIORITY,
                last_synced_at: None,
                has_synced: None,
            },
        ],
        downloading: Some(Downloading::from_buckets(&[
            BucketProgress {
                priority: 3,
                at_last: 1,
                since_last: 2,
                target_count: 10,
            },
            BucketProgress {
                priority: 0,
                at_last: 0,
                since_last: 1,
                target_count: 1,
            },
        ])),
        streams: vec![StreamStatus {
            name: "todos".into(),
            parameters: raw(r#"{"list": "L1"}"#),
            priority: Some(1),
            active: true,
            is_default: false,
            has_explicit_subscription: true,
            expires_at: Some(1795318824582000),
            last_synced_at: None,
            progress: StreamProgress {
                total: 3,
                downloaded: 1,
            },
        }],
        internal_last_applied_checkpoint_request_id: Some(8),
        held_rows: None,
    }
}

const FULL_STATUS: &str = concat!(
    r#"{"connected":true,"connecting":false,"priority_status":[{"priority":1,"last_synced_at":1795315205000000,"has_synced":true},"#,
    r#"{"priority":2147483647,"last_synced_at":null,"has_synced":null}],"#,
    r#""downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":2,"target_count":9},"prio_0":{"priority":0,"at_last":0,"since_last":1,"target_count":1}}},"#,
    r#""streams":[{"name":"todos","parameters":{"list": "L1"},"priority":1,"active":true,"is_default":false,"has_explicit_subscription":true,"expires_at":1795318824582000,"last_synced_at":null,"progress":{"total":3,"downloaded":1}}],"#,
    r#""internal_last_applied_checkpoint_request_id":"8"}"#
);

const OFFLINE_STATUS: &str =
    r#"{"connected":false,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}"#;

#[test]
fn status_serialises_like_the_reference_and_reads_back() {
    let s = full_status();
    assert_eq!(serde_json::to_string(&s).unwrap(), FULL_STATUS);
    let back: SyncStatus = serde_json::from_str(FULL_STATUS).unwrap();
    assert_eq!(back, s);

    let offline = SyncStatus::default();
    assert_eq!(serde_json::to_string(&offline).unwrap(), OFFLINE_STATUS);
    assert_eq!(serde_json::from_str::<SyncStatus>(OFFLINE_STATUS).unwrap(), offline);
}

#[test]
fn status_reading_is_lenient_and_checks_the_request_id() {
    let s: SyncStatus = serde_json::from_str(r#"{"connected":false,"connecting":true,"extra":1}"#).unwrap();
    assert!(s.connecting && s.priority_status.is_empty() && s.downloading.is_none());
    assert!(serde_json::from_str::<SyncStatus>(
        r#"{"connected":false,"connecting":false,"internal_last_applied_checkpoint_request_id":"x"}"#
    )
    .is_err());
}

#[test]
fn held_rows_are_reported_only_when_present() {
    let mut s = SyncStatus {
        held_rows: Some(3),
        ..SyncStatus::default()
    };
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, OFFLINE_STATUS.replace('}', r#","held_rows":3}"#));
    assert_eq!(serde_json::from_str::<SyncStatus>(&json).unwrap(), s);
    s.held_rows = None;
    assert_eq!(serde_json::to_string(&s).unwrap(), OFFLINE_STATUS);
}

/// Every instruction, with the JSON the core writes for it.
fn every_instruction() -> Vec<(Instruction, String)> {
    vec![
        (
            Instruction::log(Severity::Warning, "careful"),
            r#"{"LogLine":{"severity":"WARNING","line":"careful"}}"#.into(),
        ),
        (Instruction::log(Severity::Debug, "d"), r#"{"LogLine":{"severity":"DEBUG","line":"d"}}"#.into()),
        (Instruction::log(Severity::Info, "i"), r#"{"LogLine":{"severity":"INFO","line":"i"}}"#.into()),
        (
            Instruction::UpdateSyncStatus { status: full_status() },
            format!(r#"{{"UpdateSyncStatus":{{"status":{FULL_STATUS}}}}}"#),
        ),
        (
            Instruction::EstablishSyncStream {
                request: StreamingSyncRequest {
                    buckets: vec![BucketRequest {
                        name: "b1".into(),
                        after: "12".into(),
                    }],
                    include_checksum: true,
                    raw_data: true,
                    binary_data: true,
                    client_id: "c1".into(),
                    parameters: Some(serde_json::from_str(r#"{"team":"t1"}"#).unwrap()),
                    streams: StreamsRequest {
                        include_defaults: true,
                        subscriptions: vec![SubscriptionRequest {
                            stream: "todos".into(),
                            parameters: raw(r#"{"list": "L1"}"#),
                            override_priority: Some(1),
                        }],
                    },
                    app_metadata: raw(r#"{"app": "demo"}"#),
                },
                checkpoint_request: Some(CheckpointRequest {
                    client_id: "c1".into(),
                    checkpoint_request_id: "3".into(),
                }),
            },
            concat!(
                r#"{"EstablishSyncStream":{"request":{"buckets":[{"name":"b1","after":"12"}],"include_checksum":true,"raw_data":true,"binary_data":true,"#,
                r#""client_id":"c1","parameters":{"team":"t1"},"streams":{"include_defaults":true,"subscriptions":[{"stream":"todos","parameters":{"list": "L1"},"override_priority":1}]},"#,
                r#""app_metadata":{"app": "demo"}},"checkpoint_request":{"client_id":"c1","checkpoint_request_id":"3"}}}"#
            )
            .into(),
        ),
        (
            Instruction::EstablishSyncStream {
                request: StreamingSyncRequest {
                    buckets: vec![],
                    include_checksum: true,
                    raw_data: true,
                    binary_data: false,
                    client_id: "c1".into(),
                    parameters: None,
                    streams: StreamsRequest {
                        include_defaults: false,
                        subscriptions: vec![],
                    },
                    app_metadata: None,
                },
                checkpoint_request: None,
            },
            r#"{"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":false,"client_id":"c1","parameters":null,"streams":{"include_defaults":false,"subscriptions":[]}}}}"#.into(),
        ),
        (
            Instruction::FetchCredentials { did_expire: true },
            r#"{"FetchCredentials":{"did_expire":true}}"#.into(),
        ),
        (
            Instruction::CloseSyncStream { hide_disconnect: false },
            r#"{"CloseSyncStream":{"hide_disconnect":false}}"#.into(),
        ),
        (
            Instruction::DidCompleteSync {
                applied_checkpoint_request_id: None,
            },
            r#"{"DidCompleteSync":{}}"#.into(),
        ),
        (
            Instruction::DidCompleteSync {
                applied_checkpoint_request_id: Some("7".into()),
            },
            r#"{"DidCompleteSync":{"applied_checkpoint_request_id":"7"}}"#.into(),
        ),
        (
            Instruction::HandleDiagnostics(Diagnostics::BucketStateChange {
                changes: vec![BucketChange {
                    name: "b1".into(),
                    progress: BucketProgress {
                        priority: 3,
                        at_last: 1,
                        since_last: 2,
                        target_count: 4,
                    },
                }],
                incremental: true,
            }),
            r#"{"HandleDiagnostics":{"BucketStateChange":{"changes":[{"name":"b1","progress":{"priority":3,"at_last":1,"since_last":2,"target_count":4}}],"incremental":true}}}"#.into(),
        ),
        (
            Instruction::HandleDiagnostics(Diagnostics::SchemaChange {
                table: "todos".into(),
                column: "qty".into(),
                value_type: ValueType::Integer,
            }),
            r#"{"HandleDiagnostics":{"SchemaChange":{"table":"todos","column":"qty","value_type":"Integer"}}}"#.into(),
        ),
        (
            Instruction::CheckpointDelayedDueToLocalData {},
            r#"{"CheckpointDelayedDueToLocalData":{}}"#.into(),
        ),
    ]
}

#[test]
fn every_instruction_serialises_like_the_reference_and_reads_back() {
    let mut names = std::collections::BTreeSet::new();
    for (instruction, json) in every_instruction() {
        assert_eq!(serde_json::to_string(&instruction).unwrap(), json);
        let back: Instruction = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        // Read back, it writes the same bytes: nothing was lost or reordered.
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        let name = json[2..].split('"').next().unwrap().to_owned();
        assert!(Instruction::NAMES.contains(&name.as_str()), "{name}");
        names.insert(name);
    }
    assert_eq!(names.len(), Instruction::NAMES.len(), "every instruction is covered");
}

#[test]
fn an_array_of_instructions_reads_back() {
    let list: Vec<Instruction> = every_instruction().into_iter().map(|(i, _)| i).collect();
    let json = serde_json::to_string(&list).unwrap();
    let back: Vec<Instruction> = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}

#[test]
fn downloading_reads_groups_in_document_order() {
    let d: Downloading = serde_json::from_str(
        r#"{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":2,"target_count":9},"prio_0":{"priority":0,"at_last":0,"since_last":1,"target_count":1}}}"#,
    )
    .unwrap();
    assert_eq!(d.groups.iter().map(|g| g.priority).collect::<Vec<_>>(), vec![3, 0]);
    assert!(serde_json::from_str::<Downloading>(r#"{"buckets":[]}"#).is_err());
}
