//! The instruction arrays `powersync_control` returns, decoded with the shared contract
//! (`powersync_protocol::Instruction`, docs/protocol.md "Instructions") into what the client acts
//! on.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use powersync_protocol::instruction::Instruction as Wire;
pub(crate) use powersync_protocol::instruction::Severity;

use crate::status::CoreStatus;

/// An instruction as the client acts on it: the wire instruction with the status as decoded,
/// the request kept as the extension's text (forwarded unchanged, fields a newer extension may
/// add included), the applied request id as a number, diagnostics ignored and unknown
/// instructions tolerated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Instruction {
    LogLine {
        severity: Severity,
        line: String,
    },
    UpdateSyncStatus(CoreStatus),
    /// `request` and `checkpoint_request` are kept as the extension's raw JSON text, so that
    /// they are forwarded unchanged.
    EstablishSyncStream {
        request: String,
        checkpoint_request: Option<String>,
    },
    FetchCredentials {
        did_expire: bool,
    },
    CloseSyncStream {
        hide_disconnect: bool,
    },
    DidCompleteSync {
        applied_checkpoint_request_id: Option<i64>,
    },
    /// Its payload is not decoded: the client has no use for diagnostics, and a newer extension
    /// may add kinds.
    HandleDiagnostics,
    /// The local-write gate held a checkpoint back (extension 0.5.4): local writes must be
    /// uploaded (and acknowledged) before downloaded data is applied.
    CheckpointDelayedDueToLocalData,
    /// An instruction this client does not know (forward compatibility: ignored).
    Unknown(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(String);

/// Decodes an instruction array. `None` (SQL NULL) is no instructions.
pub(crate) fn decode(json: Option<&str>) -> Result<Vec<Instruction>, DecodeError> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let items: Vec<&RawValue> = serde_json::from_str(json).map_err(|e| DecodeError(format!("{e} in {json}")))?;
    items.into_iter().map(|item| decode_one(item.get(), json)).collect()
}

fn decode_one(item: &str, json: &str) -> Result<Instruction, DecodeError> {
    let fields: BTreeMap<&str, &RawValue> =
        serde_json::from_str(item).map_err(|e| DecodeError(format!("{e} in {json}")))?;
    let mut entries = fields.iter();
    let (name, payload) = match (entries.next(), entries.next()) {
        (Some((name, payload)), None) => (*name, *payload),
        _ => return Err(DecodeError(format!("an instruction must have exactly one key: {json}"))),
    };
    if name == "HandleDiagnostics" {
        return Ok(Instruction::HandleDiagnostics);
    }
    if !Wire::NAMES.contains(&name) {
        return Ok(Instruction::Unknown(name.to_string()));
    }
    let wire: Wire = serde_json::from_str(item).map_err(|e| DecodeError(format!("{name}: {e}")))?;
    Ok(match wire {
        Wire::LogLine { severity, line } => Instruction::LogLine { severity, line },
        Wire::UpdateSyncStatus { status } => Instruction::UpdateSyncStatus(status),
        Wire::EstablishSyncStream { .. } => {
            // Checked against the contract above; forwarded as the extension wrote it.
            let fields: BTreeMap<&str, &RawValue> =
                serde_json::from_str(payload.get()).map_err(|e| DecodeError(format!("{name}: {e}")))?;
            Instruction::EstablishSyncStream {
                request: fields.get("request").map(|r| r.get().to_string()).unwrap_or_default(),
                checkpoint_request: fields
                    .get("checkpoint_request")
                    .map(|c| c.get())
                    .filter(|c| *c != "null")
                    .map(str::to_string),
            }
        }
        Wire::FetchCredentials { did_expire } => Instruction::FetchCredentials { did_expire },
        Wire::CloseSyncStream { hide_disconnect } => Instruction::CloseSyncStream { hide_disconnect },
        Wire::DidCompleteSync {
            applied_checkpoint_request_id,
        } => Instruction::DidCompleteSync {
            applied_checkpoint_request_id: match applied_checkpoint_request_id {
                Some(s) => Some(
                    s.parse::<i64>()
                        .map_err(|e| DecodeError(format!("{name}: id {s:?}: {e}")))?,
                ),
                None => None,
            },
        },
        Wire::HandleDiagnostics(_) => Instruction::HandleDiagnostics,
        Wire::CheckpointDelayedDueToLocalData {} => Instruction::CheckpointDelayedDueToLocalData,
    })
}

/// Since extension 0.5.4 every close reports the disconnected status first. A close with
/// `hide_disconnect` is a restart the client makes at once, so the status it shows in between is
/// "connecting" rather than "disconnected".
pub(crate) fn hide_disconnect(instructions: &mut [Instruction]) {
    let hidden = matches!(
        instructions.last(),
        Some(Instruction::CloseSyncStream { hide_disconnect: true })
    );
    if !hidden {
        return;
    }
    let n = instructions.len();
    if let Some(Instruction::UpdateSyncStatus(status)) = n.checked_sub(2).and_then(|i| instructions.get_mut(i)) {
        status.connecting = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_start_result_with_raw_request() {
        let json = r#"[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[],"downloading":null,"streams":[]}}},{"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"c1","parameters":{"team": "t1"},"streams":{"include_defaults":true,"subscriptions":[]}}}}]"#;
        let out = decode(Some(json)).unwrap();
        assert_eq!(out.len(), 2);
        match &out[0] {
            Instruction::UpdateSyncStatus(s) => assert!(s.connecting && !s.connected),
            other => panic!("{other:?}"),
        }
        match &out[1] {
            Instruction::EstablishSyncStream {
                request,
                checkpoint_request,
            } => {
                // Byte-identical, including the space inside the parameters object.
                assert_eq!(
                    request,
                    r#"{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"c1","parameters":{"team": "t1"},"streams":{"include_defaults":true,"subscriptions":[]}}"#
                );
                assert!(checkpoint_request.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_every_kind() {
        let json = r#"[{"LogLine":{"severity":"WARNING","line":"x"}},{"FetchCredentials":{"did_expire":false}},{"CloseSyncStream":{"hide_disconnect":true}},{"DidCompleteSync":{}},{"DidCompleteSync":{"applied_checkpoint_request_id":"7"}},{"HandleDiagnostics":{"SchemaChange":{}}},{"CheckpointDelayedDueToLocalData":{}},{"SomethingNew":{"a":1}},{"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"c","parameters":null,"streams":{"include_defaults":true,"subscriptions":[]}},"checkpoint_request":{"client_id":"c","checkpoint_request_id":"1"}}}]"#;
        let out = decode(Some(json)).unwrap();
        assert_eq!(
            out,
            vec![
                Instruction::LogLine {
                    severity: Severity::Warning,
                    line: "x".into()
                },
                Instruction::FetchCredentials { did_expire: false },
                Instruction::CloseSyncStream { hide_disconnect: true },
                Instruction::DidCompleteSync {
                    applied_checkpoint_request_id: None
                },
                Instruction::DidCompleteSync {
                    applied_checkpoint_request_id: Some(7)
                },
                Instruction::HandleDiagnostics,
                Instruction::CheckpointDelayedDueToLocalData,
                Instruction::Unknown("SomethingNew".into()),
                Instruction::EstablishSyncStream {
                    request: r#"{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"c","parameters":null,"streams":{"include_defaults":true,"subscriptions":[]}}"#.into(),
                    checkpoint_request: Some(r#"{"client_id":"c","checkpoint_request_id":"1"}"#.into())
                },
            ]
        );
    }

    /// Every instruction as the core writes it (the shared types, serialised the way
    /// `powersync_control` does), decoded by the client.
    #[test]
    fn decodes_every_instruction_the_core_serialises() {
        use powersync_protocol::instruction as w;
        use powersync_protocol::status as ws;
        let raw = |t: &str| Some(RawValue::from_string(t.to_owned()).unwrap());
        let status = ws::SyncStatus {
            connected: true,
            connecting: false,
            priority_status: vec![ws::PriorityStatus {
                priority: 1,
                last_synced_at: Some(1795315205000000),
                has_synced: Some(true),
            }],
            downloading: Some(ws::Downloading::from_buckets(&[ws::BucketProgress {
                priority: 3,
                at_last: 1,
                since_last: 2,
                target_count: 10,
            }])),
            streams: vec![ws::StreamStatus {
                name: "todos".into(),
                parameters: raw(r#"{"list": "L1"}"#),
                priority: Some(1),
                active: true,
                is_default: false,
                has_explicit_subscription: true,
                expires_at: Some(1795318824582000),
                last_synced_at: None,
                progress: ws::StreamProgress {
                    total: 3,
                    downloaded: 1,
                },
            }],
            internal_last_applied_checkpoint_request_id: Some(8),
            held_rows: None,
        };
        let request = || w::StreamingSyncRequest {
            buckets: vec![w::BucketRequest {
                name: "b".into(),
                after: "4".into(),
            }],
            include_checksum: true,
            raw_data: true,
            binary_data: true,
            client_id: "c1".into(),
            parameters: None,
            streams: w::StreamsRequest {
                include_defaults: true,
                subscriptions: vec![w::SubscriptionRequest {
                    stream: "todos".into(),
                    parameters: raw(r#"{"list": "L1"}"#),
                    override_priority: None,
                }],
            },
            app_metadata: raw(r#"{"app": 1}"#),
        };
        let core_side = vec![
            w::Instruction::log(w::Severity::Info, "hello"),
            w::Instruction::UpdateSyncStatus { status: status.clone() },
            w::Instruction::EstablishSyncStream {
                request: request(),
                checkpoint_request: Some(w::CheckpointRequest {
                    client_id: "c1".into(),
                    checkpoint_request_id: "9".into(),
                }),
            },
            w::Instruction::EstablishSyncStream {
                request: request(),
                checkpoint_request: None,
            },
            w::Instruction::FetchCredentials { did_expire: true },
            w::Instruction::CloseSyncStream { hide_disconnect: false },
            w::Instruction::DidCompleteSync {
                applied_checkpoint_request_id: Some("9".into()),
            },
            w::Instruction::DidCompleteSync {
                applied_checkpoint_request_id: None,
            },
            w::Instruction::HandleDiagnostics(w::Diagnostics::SchemaChange {
                table: "t".into(),
                column: "c".into(),
                value_type: w::ValueType::Real,
            }),
            w::Instruction::CheckpointDelayedDueToLocalData {},
        ];
        let json = serde_json::to_string(&core_side).unwrap();
        let request_json = serde_json::to_string(&request()).unwrap();
        assert_eq!(
            decode(Some(&json)).unwrap(),
            vec![
                Instruction::LogLine {
                    severity: Severity::Info,
                    line: "hello".into()
                },
                Instruction::UpdateSyncStatus(status),
                Instruction::EstablishSyncStream {
                    request: request_json.clone(),
                    checkpoint_request: Some(r#"{"client_id":"c1","checkpoint_request_id":"9"}"#.into()),
                },
                Instruction::EstablishSyncStream {
                    request: request_json,
                    checkpoint_request: None,
                },
                Instruction::FetchCredentials { did_expire: true },
                Instruction::CloseSyncStream { hide_disconnect: false },
                Instruction::DidCompleteSync {
                    applied_checkpoint_request_id: Some(9)
                },
                Instruction::DidCompleteSync {
                    applied_checkpoint_request_id: None
                },
                Instruction::HandleDiagnostics,
                Instruction::CheckpointDelayedDueToLocalData,
            ]
        );
        assert_eq!(
            core_side.len(),
            w::Instruction::NAMES.len() + 2,
            "every instruction is covered"
        );
    }

    #[test]
    fn known_instructions_must_match_the_contract() {
        assert!(decode(Some(r#"[{"FetchCredentials":{}}]"#)).is_err());
        assert!(decode(Some(r#"[{"EstablishSyncStream":{"request":{}}}]"#)).is_err());
        assert!(decode(Some(r#"[{"UpdateSyncStatus":{"status":{"connected":1}}}]"#)).is_err());
    }

    #[test]
    fn hidden_close_shows_connecting_instead_of_disconnected() {
        let offline = r#"{"UpdateSyncStatus":{"status":{"connected":false,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}"#;
        let mut hidden = decode(Some(&format!(
            r#"[{offline},{{"CloseSyncStream":{{"hide_disconnect":true}}}}]"#
        )))
        .unwrap();
        hide_disconnect(&mut hidden);
        match &hidden[0] {
            Instruction::UpdateSyncStatus(s) => assert!(s.connecting && !s.connected),
            other => panic!("{other:?}"),
        }
        let mut shown = decode(Some(&format!(
            r#"[{offline},{{"CloseSyncStream":{{"hide_disconnect":false}}}}]"#
        )))
        .unwrap();
        hide_disconnect(&mut shown);
        match &shown[0] {
            Instruction::UpdateSyncStatus(s) => assert!(!s.connecting && !s.connected),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_and_empty_are_no_instructions() {
        assert!(decode(None).unwrap().is_empty());
        assert!(decode(Some("[]")).unwrap().is_empty());
    }

    #[test]
    fn malformed_instructions_are_errors() {
        assert!(decode(Some("{}")).is_err());
        assert!(decode(Some(r#"[{"LogLine":{"severity":"LOUD","line":"x"}}]"#)).is_err());
        assert!(decode(Some(r#"[{"A":{},"B":{}}]"#)).is_err());
        assert!(decode(Some(r#"[{"DidCompleteSync":{"applied_checkpoint_request_id":"x"}}]"#)).is_err());
    }
}
