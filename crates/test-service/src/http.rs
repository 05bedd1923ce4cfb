//! HTTP routes: the PowerSync endpoints, the backend upload endpoint and the admin API. Bodies
//! and query strings are decoded into typed values here; errors are JSON.

use crate::auth::{AuthError, Identity};
use crate::faults::WireFault;
use crate::framing::Framing;
use crate::ops::{self, WireOp};
use crate::rules::Subscription;
use crate::service::Shared;
use crate::stream::{Session, StreamRequest};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

type AppState = Arc<Shared>;

/// A JSON error response: `{"error": {"status": 401, "code": "...", "description": "..."}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            description: description.into(),
        }
    }

    fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", description)
    }

    fn internal(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", description)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"status": self.status.as_u16(), "code": self.code, "description": self.description}});
        (self.status, Json(body)).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let code = match &e {
            AuthError::MissingHeader | AuthError::WrongScheme => "missing_token",
            AuthError::Malformed(_) | AuthError::WrongAlgorithm(_) => "malformed_token",
            AuthError::MissingKid { .. } | AuthError::UnknownKid { .. } => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongAudience { .. } => "wrong_audience",
            AuthError::Expired => "token_expired",
            AuthError::MissingClaim(_) | AuthError::EmptySubject => "missing_claim",
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        tracing::error!("{e}");
        ApiError::internal(e.to_string())
    }
}

/// Every body this service takes is a JSON object (serde would also take an array for a struct).
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_request("invalid request body: expected a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let value = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    shared.jwt.verify(value).map_err(|e| {
        shared.stats().auth_failures += 1;
        ApiError::from(e)
    })
}

pub(crate) fn router(shared: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/apply", post(admin_apply))
        .route("/admin/rows", get(admin_rows))
        .route("/admin/token", post(admin_token))
        .route("/admin/faults", post(admin_inject).delete(admin_clear_faults))
        .route("/admin/stats", get(admin_stats))
        .route_layer(middleware::from_fn(loopback_only));
    Router::new()
        .route("/sync/stream", post(sync_stream))
        .route("/write-checkpoint2.json", get(write_checkpoint))
        .route("/sync/checkpoint-request", post(checkpoint_request))
        .route("/upload", post(upload))
        .merge(admin)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), inject_faults))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint {} {}", request.method(), request.uri().path()),
    )
}

/// Status and stall faults act before the route runs. The admin API is exempt, so a test can
/// always clear faults.
async fn inject_faults(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !path.starts_with("/admin/") {
        if let Some(until) = shared.faults.stalled_until(&path) {
            tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
            shared.stats().faults_triggered += 1;
        }
        if let Some(status) = shared.faults.take_status(&path) {
            shared.stats().faults_triggered += 1;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return ApiError::new(
                status,
                "injected_fault",
                format!("fault injection: HTTP {}", status.as_u16()),
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn loopback_only(ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    if !peer.ip().is_loopback() {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin API only answers loopback clients",
        )
        .into_response();
    }
    next.run(request).await
}

// ---- PowerSync endpoints ------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireStreamRequest {
    #[serde(default)]
    buckets: Vec<WireBucketRequest>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    streams: Option<WireStreams>,
}

#[derive(Deserialize)]
struct WireBucketRequest {
    name: String,
    after: String,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
struct WireStreams {
    #[serde(default = "default_true")]
    include_defaults: bool,
    #[serde(default)]
    subscriptions: Vec<WireSubscription>,
}

#[derive(Deserialize)]
struct WireSubscription {
    stream: String,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    override_priority: Option<i32>,
}

fn parse_op_id(what: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{what} must be a non-negative decimal integer string, got {text:?}"
        ))
    })
}

impl WireStreamRequest {
    fn into_request(self) -> Result<StreamRequest, ApiError> {
        let buckets = self
            .buckets
            .into_iter()
            .map(|b| {
                Ok((
                    b.name.clone(),
                    parse_op_id(&format!("buckets[{:?}].after", b.name), &b.after)?,
                ))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let (include_defaults, subscriptions) = match self.streams {
            Some(s) => (
                s.include_defaults,
                s.subscriptions
                    .into_iter()
                    .map(|w| Subscription {
                        stream: w.stream,
                        parameters: w.parameters,
                        override_priority: w.override_priority,
                    })
                    .collect(),
            ),
            None => (true, Vec::new()),
        };
        Ok(StreamRequest {
            buckets,
            client_id: self.client_id,
            include_defaults,
            subscriptions,
        })
    }
}

async fn sync_stream(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let identity = authenticate(&shared, &headers)?;
    let raw: Value = decode(&body)?;
    let request = decode::<WireStreamRequest>(&body)?.into_request()?;
    let framing = Framing::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let (session, rx) = Session::open(shared.clone(), identity, request, framing)?;
    {
        let mut stats = shared.stats();
        stats.stream_requests += 1;
        stats.last_stream_request = Some(raw);
        stats.last_stream_framing = Some(framing.name().to_owned());
    }
    tokio::spawn(session.run());
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, framing.content_type())
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Deserialize)]
struct WriteCheckpointQuery {
    client_id: Option<String>,
}

async fn write_checkpoint(
    State(shared): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<WriteCheckpointQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let identity = authenticate(&shared, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let client_id = query
        .client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter client_id is required"))?;
    let id = shared.store().create_write_checkpoint(&identity.sub, &client_id)?;
    shared.stats().write_checkpoints += 1;
    shared.notify();
    Ok(Json(json!({"data": {"write_checkpoint": id.to_string()}})))
}

#[derive(Deserialize)]
struct CheckpointRequestBody {
    client_id: String,
    checkpoint_request_id: String,
}

async fn checkpoint_request(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let identity = authenticate(&shared, &headers)?;
    let body: CheckpointRequestBody = decode(&body)?;
    if body.client_id.is_empty() {
        return Err(ApiError::bad_request("client_id must be a non-empty string"));
    }
    let posted = parse_op_id("checkpoint_request_id", &body.checkpoint_request_id)?;
    let accepted = shared
        .store()
        .request_checkpoint(&identity.sub, &body.client_id, posted)?;
    shared.stats().checkpoint_requests += 1;
    shared.notify();
    Ok(Json(json!({"data": {"checkpoint_request_id": accepted.to_string()}})))
}

// ---- Backend upload ------------------------------------------------------------------------------

#[derive(Deserialize)]
/// `client_id` is part of the body too; the backend has no use for it.
struct UploadBody {
    batch: Vec<WireOp>,
}

async fn upload(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    authenticate(&shared, &headers)?;
    let raw: Value = decode(&body)?;
    let upload: UploadBody = decode(&body)?;
    let ops = ops::from_wire(upload.batch).map_err(|e| ApiError::bad_request(format!("invalid batch: {e}")))?;
    if let Some(r) = shared.faults.rejection_for(ops.iter().map(|o| (o.table(), o.id()))) {
        let mut stats = shared.stats();
        stats.faults_triggered += 1;
        stats.uploads_rejected += 1;
        let status = StatusCode::from_u16(r.status)
            .ok()
            .filter(|s| s.is_client_error())
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        return Err(ApiError::new(
            status,
            "upload_rejected",
            format!(
                "the backend refuses changes to {}/{}; nothing of this batch was applied (fault injection)",
                r.table, r.id
            ),
        ));
    }
    shared.apply(&ops)?;
    let mut stats = shared.stats();
    stats.uploads += 1;
    stats.uploaded_ops += ops.len() as u64;
    stats.last_upload = Some(raw);
    Ok(Json(json!({})))
}

// ---- Admin API -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    ops: Vec<WireOp>,
}

async fn admin_apply(State(shared): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: ApplyBody = decode(&body)?;
    let ops = ops::from_wire(body.ops).map_err(|e| ApiError::bad_request(format!("invalid ops: {e}")))?;
    let written = shared.apply(&ops)?;
    let last = shared.store().last_op_id()?;
    Ok(Json(json!({"bucket_ops": written, "last_op_id": last.to_string()})))
}

#[derive(Deserialize)]
struct RowsQuery {
    table: String,
}

async fn admin_rows(
    State(shared): State<AppState>,
    query: Result<Query<RowsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let rows = shared.store().rows(&query.table)?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(id, data)| json!({"id": id, "data": data}))
        .collect();
    Ok(Json(json!({ "rows": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    sub: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

async fn admin_token(State(shared): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: TokenBody = decode(&body)?;
    if body.sub.is_empty() {
        return Err(ApiError::bad_request("sub must be a non-empty string"));
    }
    let token = shared
        .jwt
        .issue(&body.sub, Duration::from_secs(body.expires_in.unwrap_or(3600)));
    Ok(Json(json!({ "token": token })))
}

async fn admin_inject(State(shared): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let fault: WireFault = decode(&body)?;
    fault.validate().map_err(ApiError::bad_request)?;
    shared.inject(fault.into());
    Ok(Json(json!({})))
}

async fn admin_clear_faults(State(shared): State<AppState>) -> Json<Value> {
    shared.faults.clear();
    Json(json!({}))
}

async fn admin_stats(State(shared): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stats = shared.stats().clone();
    serde_json::to_value(stats)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}
