//! HS256 JWTs: issuing them for tests, and checking `Authorization: Token <jwt>` on every
//! authenticated endpoint (signature, `kid`, `aud`, `exp`, `sub`).

use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const DEFAULT_SECRET: &str = "powersync-test-secret";
pub const DEFAULT_KID: &str = "test-key";
pub const DEFAULT_AUDIENCE: &str = "powersync-test";

/// Key and expected claims. Cloned into every place that signs or checks tokens.
#[derive(Debug, Clone)]
pub(crate) struct JwtKey {
    pub secret: String,
    pub kid: String,
    pub audience: String,
}

impl Default for JwtKey {
    fn default() -> Self {
        JwtKey {
            secret: DEFAULT_SECRET.into(),
            kid: DEFAULT_KID.into(),
            audience: DEFAULT_AUDIENCE.into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Deserialize)]
struct CheckedClaims {
    #[serde(default)]
    sub: Option<String>,
    exp: u64,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Identity {
    /// Whole seconds until the token expires (0 once expired), clamped to i32 for the wire.
    pub(crate) fn expires_in(&self, now: SystemTime) -> i32 {
        let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        i32::try_from(self.exp.saturating_sub(now)).unwrap_or(i32::MAX)
    }

    pub(crate) fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.exp)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("missing Authorization header (expected \"Token <jwt>\")")]
    MissingHeader,
    #[error("Authorization header must be \"Token <jwt>\"")]
    WrongScheme,
    #[error("JWT is malformed: {0}")]
    Malformed(String),
    #[error("JWT algorithm must be HS256, got {0}")]
    WrongAlgorithm(String),
    #[error("JWT header has no \"kid\" (expected {expected:?})")]
    MissingKid { expected: String },
    #[error("JWT \"kid\" {got:?} is not a known key (expected {expected:?})")]
    UnknownKid { got: String, expected: String },
    #[error("JWT signature does not match the service's secret")]
    BadSignature,
    #[error("JWT \"aud\" does not include {expected:?}")]
    WrongAudience { expected: String },
    #[error("JWT has expired")]
    Expired,
    #[error("JWT is missing the {0:?} claim")]
    MissingClaim(String),
    #[error("JWT \"sub\" must be a non-empty string")]
    EmptySubject,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtKey {
    pub(crate) fn issue(&self, sub: &str, expires_in: Duration) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let iat = unix_now();
        let claims = Claims {
            sub: sub.to_owned(),
            aud: self.audience.clone(),
            iat,
            exp: iat + expires_in.as_secs(),
        };
        // Encoding a plain struct with an HMAC key has no failure mode; keep a readable panic anyway.
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(self.secret.as_bytes()))
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Checks the value of an `Authorization` header.
    pub(crate) fn verify(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        let value = authorization.ok_or(AuthError::MissingHeader)?.trim();
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("token") && !token.trim().is_empty() => token.trim(),
            _ => return Err(AuthError::WrongScheme),
        };
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::WrongAlgorithm(format!("{:?}", header.alg)));
        }
        match header.kid {
            None => {
                return Err(AuthError::MissingKid {
                    expected: self.kid.clone(),
                })
            }
            Some(kid) if kid != self.kid => {
                return Err(AuthError::UnknownKid {
                    got: kid,
                    expected: self.kid.clone(),
                })
            }
            Some(_) => {}
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let data = jsonwebtoken::decode::<CheckedClaims>(
            token,
            &DecodingKey::from_secret(self.secret.as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidAudience => AuthError::WrongAudience {
                expected: self.audience.clone(),
            },
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
            _ => AuthError::Malformed(e.to_string()),
        })?;
        match data.claims.sub {
            None => Err(AuthError::MissingClaim("sub".into())),
            Some(sub) if sub.is_empty() => Err(AuthError::EmptySubject),
            Some(sub) => Ok(Identity {
                sub,
                exp: data.claims.exp,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(header_kid: Option<&str>, claims: serde_json::Value, secret: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = header_kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    #[test]
    fn issued_tokens_verify() {
        let key = JwtKey::default();
        let token = key.issue("alice", Duration::from_secs(600));
        let id = key.verify(Some(&format!("Token {token}"))).unwrap();
        assert_eq!(id.sub, "alice");
        let left = id.expires_in(SystemTime::now());
        assert!((599..=600).contains(&left), "{left}");
    }

    #[test]
    fn each_bad_token_has_its_own_error() {
        let key = JwtKey::default();
        let now = unix_now();
        let good = json!({"sub": "a", "aud": DEFAULT_AUDIENCE, "exp": now + 60});
        let check = |h: Option<String>| key.verify(h.as_deref());
        assert_eq!(check(None), Err(AuthError::MissingHeader));
        let t = sign(Some(DEFAULT_KID), good.clone(), DEFAULT_SECRET);
        assert_eq!(check(Some(format!("Bearer {t}"))), Err(AuthError::WrongScheme));
        assert_eq!(check(Some("Token".into())), Err(AuthError::WrongScheme));
        assert!(matches!(check(Some("Token abc".into())), Err(AuthError::Malformed(_))));
        assert_eq!(
            check(Some(format!("Token {}", sign(None, good.clone(), DEFAULT_SECRET)))),
            Err(AuthError::MissingKid {
                expected: DEFAULT_KID.into()
            })
        );
        assert!(matches!(
            check(Some(format!(
                "Token {}",
                sign(Some("other"), good.clone(), DEFAULT_SECRET)
            ))),
            Err(AuthError::UnknownKid { .. })
        ));
        assert_eq!(
            check(Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), good.clone(), "wrong")
            ))),
            Err(AuthError::BadSignature)
        );
        let wrong_aud = json!({"sub": "a", "aud": "elsewhere", "exp": now + 60});
        assert!(matches!(
            check(Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), wrong_aud, DEFAULT_SECRET)
            ))),
            Err(AuthError::WrongAudience { .. })
        ));
        let expired = json!({"sub": "a", "aud": DEFAULT_AUDIENCE, "exp": now - 5});
        assert_eq!(
            check(Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), expired, DEFAULT_SECRET)
            ))),
            Err(AuthError::Expired)
        );
        let no_sub = json!({"aud": DEFAULT_AUDIENCE, "exp": now + 60});
        assert_eq!(
            check(Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), no_sub, DEFAULT_SECRET)
            ))),
            Err(AuthError::MissingClaim("sub".into()))
        );
        let empty_sub = json!({"sub": "", "aud": DEFAULT_AUDIENCE, "exp": now + 60});
        assert_eq!(
            check(Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), empty_sub, DEFAULT_SECRET)
            ))),
            Err(AuthError::EmptySubject)
        );
    }
}
