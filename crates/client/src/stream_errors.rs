//! Subscriptions the service could not resolve (an unknown stream, bad parameters). The
//! service reports them in the checkpoint's `streams[].errors`; the extension turns each into a
//! warning log line (the reference SDK's wording, pinned by the core's tests) and keeps no
//! other trace, so the client recognises those lines and keeps them as typed values.

/// One subscription the service could not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResolutionError {
    pub stream: String,
    /// The parameters' JSON text as subscribed, or `None`.
    pub parameters: Option<String>,
    pub message: String,
}

const PREFIX: &str = "Subscription to stream ";
const WITHOUT: &str = " (without parameters) could not be resolved: ";
const WITH: &str = " (with parameters ";
const WITH_END: &str = ") could not be resolved: ";

/// Decodes the extension's warning, `None` for any other log line.
pub(crate) fn parse(line: &str) -> Option<StreamResolutionError> {
    let rest = line.strip_prefix(PREFIX)?;
    if let Some((stream, message)) = rest.split_once(WITHOUT) {
        return Some(StreamResolutionError {
            stream: stream.to_string(),
            parameters: None,
            message: message.to_string(),
        });
    }
    let (stream, rest) = rest.split_once(WITH)?;
    let (params, message) = rest.split_once(WITH_END)?;
    Some(StreamResolutionError {
        stream: stream.to_string(),
        parameters: Some(params.to_string()),
        message: message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_forms_and_nothing_else() {
        let e =
            parse("Subscription to stream nope (without parameters) could not be resolved: unknown stream \"nope\"")
                .unwrap();
        assert_eq!(
            (e.stream.as_str(), e.parameters, e.message.as_str()),
            ("nope", None, "unknown stream \"nope\"")
        );
        let e = parse(r#"Subscription to stream s (with parameters {"a":1}) could not be resolved: bad"#).unwrap();
        assert_eq!(e.parameters.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(e.message, "bad");
        assert!(parse("Default subscription s has errors: x").is_none());
        assert!(parse("something else").is_none());
    }
}
