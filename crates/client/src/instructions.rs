//! Typed decoding of the instruction arrays `powersync_control` returns (sync.md §6.3).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::status::CoreStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Severity {
    Debug,
    Info,
    Warning,
}

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

#[derive(Deserialize)]
struct LogLine {
    severity: Severity,
    line: String,
}

#[derive(Deserialize)]
struct StatusUpdate {
    status: CoreStatus,
}

#[derive(Deserialize)]
struct Establish<'a> {
    #[serde(borrow)]
    request: &'a RawValue,
    #[serde(borrow, default)]
    checkpoint_request: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct FetchCredentials {
    did_expire: bool,
}

#[derive(Deserialize)]
struct Close {
    hide_disconnect: bool,
}

#[derive(Deserialize)]
struct DidComplete {
    #[serde(default)]
    applied_checkpoint_request_id: Option<String>,
}

/// Decodes an instruction array. `None` (SQL NULL) is no instructions.
pub(crate) fn decode(json: Option<&str>) -> Result<Vec<Instruction>, DecodeError> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let items: Vec<BTreeMap<&str, &RawValue>> =
        serde_json::from_str(json).map_err(|e| DecodeError(format!("{e} in {json}")))?;
    items
        .into_iter()
        .map(|item| {
            let mut entries = item.into_iter();
            match (entries.next(), entries.next()) {
                (Some((name, payload)), None) => decode_one(name, payload.get()),
                _ => Err(DecodeError(format!("an instruction must have exactly one key: {json}"))),
            }
        })
        .collect()
}

fn decode_one(name: &str, payload: &str) -> Result<Instruction, DecodeError> {
    fn parse<'a, T: Deserialize<'a>>(name: &str, payload: &'a str) -> Result<T, DecodeError> {
        serde_json::from_str(payload).map_err(|e| DecodeError(format!("{name}: {e}")))
    }
    Ok(match name {
        "LogLine" => {
            let l: LogLine = parse(name, payload)?;
            Instruction::LogLine {
                severity: l.severity,
                line: l.line,
            }
        }
        "UpdateSyncStatus" => Instruction::UpdateSyncStatus(parse::<StatusUpdate>(name, payload)?.status),
        "EstablishSyncStream" => {
            let e: Establish = parse(name, payload)?;
            Instruction::EstablishSyncStream {
                request: e.request.get().to_string(),
                checkpoint_request: e.checkpoint_request.map(|c| c.get().to_string()),
            }
        }
        "FetchCredentials" => Instruction::FetchCredentials {
            did_expire: parse::<FetchCredentials>(name, payload)?.did_expire,
        },
        "CloseSyncStream" => Instruction::CloseSyncStream {
            hide_disconnect: parse::<Close>(name, payload)?.hide_disconnect,
        },
        "DidCompleteSync" => {
            let d: DidComplete = parse(name, payload)?;
            let id = match d.applied_checkpoint_request_id {
                Some(s) => Some(
                    s.parse::<i64>()
                        .map_err(|e| DecodeError(format!("{name}: id {s:?}: {e}")))?,
                ),
                None => None,
            };
            Instruction::DidCompleteSync {
                applied_checkpoint_request_id: id,
            }
        }
        "HandleDiagnostics" => Instruction::HandleDiagnostics,
        "CheckpointDelayedDueToLocalData" => Instruction::CheckpointDelayedDueToLocalData,
        other => Instruction::Unknown(other.to_string()),
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
        let json = r#"[{"LogLine":{"severity":"WARNING","line":"x"}},{"FetchCredentials":{"did_expire":false}},{"CloseSyncStream":{"hide_disconnect":true}},{"DidCompleteSync":{}},{"DidCompleteSync":{"applied_checkpoint_request_id":"7"}},{"HandleDiagnostics":{"SchemaChange":{}}},{"CheckpointDelayedDueToLocalData":{}},{"SomethingNew":{"a":1}},{"EstablishSyncStream":{"request":{},"checkpoint_request":{"client_id":"c","checkpoint_request_id":"1"}}}]"#;
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
                    request: "{}".into(),
                    checkpoint_request: Some(r#"{"client_id":"c","checkpoint_request_id":"1"}"#.into())
                },
            ]
        );
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
