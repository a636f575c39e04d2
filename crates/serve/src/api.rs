//! Routes, request parsing and error answers.

use crate::ServeConfig;
use crate::batcher::{Answer, Input, ModelHandle, Params};
use crate::metrics::Metrics;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, MatchedPath, Multipart, Path, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mnv2::image::Rgb8;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct State(Arc<Shared>);

pub(crate) struct Shared {
    models: Vec<ModelHandle>,
    config: Arc<ServeConfig>,
    metrics: Arc<Metrics>,
    shutting_down: AtomicBool,
    /// Images decoded at once: four per core (so that a batch finds several ready; measured
    /// 1.4x the throughput of one per core at 32 clients), which also bounds the memory decoding
    /// takes to that many images of at most `--max-pixels`.
    decoding: tokio::sync::Semaphore,
}

impl State {
    pub fn new(models: Vec<ModelHandle>, config: Arc<ServeConfig>, metrics: Arc<Metrics>) -> State {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let decoding = tokio::sync::Semaphore::new(4 * cores);
        State(Arc::new(Shared { models, config, metrics, shutting_down: AtomicBool::new(false), decoding }))
    }
    /// From now on `/readyz` says 503 (load balancers stop sending).
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after: false }
    }
    pub fn bad_image(message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn internal(message: String) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// 503 with `Retry-After`: the model's queue is full.
    fn busy(message: String) -> ApiError {
        ApiError { retry_after: true, ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

pub(crate) fn router(state: State) -> Router {
    let max_body = state.0.config.max_body;
    Router::new()
        .route("/", get(page))
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/models/{name}/{task}", post(infer))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint (see /openapi.json)") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), access_log))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Counts and logs every answer: one line to stderr per request.
async fn access_log(axum::extract::State(state): axum::extract::State<State>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let response = next.run(req).await;
    let seconds = start.elapsed().as_secs_f64();
    state.0.metrics.request(&route, response.status().as_u16(), seconds);
    eprintln!("{method} {path} {} {:.1} ms", response.status().as_u16(), seconds * 1e3);
    response
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], include_str!("page.html"))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}

async fn readyz(axum::extract::State(state): axum::extract::State<State>) -> Response {
    if state.0.shutting_down.load(Ordering::SeqCst) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    "ready\n".into_response()
}

async fn metrics(axum::extract::State(state): axum::extract::State<State>) -> impl IntoResponse {
    let text = state.0.metrics.render(&state.0.models);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn models(axum::extract::State(state): axum::extract::State<State>) -> impl IntoResponse {
    let list: Vec<_> = state
        .0
        .models
        .iter()
        .map(|m| {
            json!({"name": m.name, "task": m.task.name(), "input_size": m.input_size, "precision": m.precision,
                   "endpoint": format!("/v1/models/{}/{}", m.name, m.task.name())})
        })
        .collect();
    Json(json!({"models": list}))
}

/// A request's image decoded within `limits` and, for a classifier, prepared as the model
/// wants it (size, crop and their order); a bad one is a 400.
pub(crate) fn decode(
    bytes: &[u8],
    limits: &mnv2::Limits,
    prepare: Option<mnv2::ClassifierInput>,
) -> Result<Rgb8, ApiError> {
    let image = match prepare {
        Some(input) => input.decode(bytes, "the image", limits),
        None => mnv2::image::decode_rgb_within(bytes, "the image", limits).map_err(mnv2::Error::from),
    };
    image.map_err(|e| ApiError::bad_image(e.to_string()))
}

/// `POST /v1/models/{name}/{task}`: decode, queue, wait for the batch, answer.
async fn infer(
    axum::extract::State(state): axum::extract::State<State>,
    Path((name, task)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let shared = &state.0;
    let model = shared.models.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = shared.models.iter().map(|m| m.name.as_str()).collect();
        ApiError::new(StatusCode::NOT_FOUND, format!("no model {name:?} (loaded: {})", names.join(", ")))
    })?;
    if model.task.name() != task {
        let msg = format!("model {name:?} does not {task}: its endpoint is /v1/models/{name}/{}", model.task.name());
        return Err(ApiError::new(StatusCode::NOT_FOUND, msg));
    }
    let params = params(&query)?;
    let arriving = model.arriving();
    let bytes = read_image_bytes(req, &shared.config).await?;
    let input = if shared.config.threads == 1 {
        // One-thread engines decode their own batches: one job per core, no time slices shared
        // between decoding and inference (with --instances <cores>, the most throughput).
        Input::Encoded(bytes)
    } else {
        // Decoded (and for classifiers cropped and resized) on the blocking pool, a few per core,
        // while the engine's threads run batches.
        let (limits, prepare) = (shared.config.limits, model.classifier_input);
        let _decoding = shared.decoding.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
        let decoded = tokio::task::spawn_blocking(move || decode(&bytes, &limits, prepare));
        Input::Decoded(decoded.await.map_err(|e| ApiError::internal(e.to_string()))??)
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let submitted = model.submit(input, params, reply);
    // Queued (or refused): no longer on its way, so a worker does not wait for it to arrive.
    drop(arriving);
    if submitted.is_err() {
        return Err(ApiError::busy(format!("model {name:?} is busy: try again")));
    }
    match answer.await.map_err(|_| ApiError::internal("the model worker stopped".into()))?? {
        Answer::Json(v) => Ok(Json(v).into_response()),
        Answer::Png(png) => Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response()),
    }
}

/// The query parameters: `top` (1-100, default 5), `score_threshold` (0-1, default 0.3, as `mnv2 detect`), `format`
/// (`json` or `png`); anything else is refused (422).
fn params(query: &HashMap<String, String>) -> Result<Params, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let mut p = Params { top: 5, score_threshold: 0.3, png: false };
    for (key, value) in query {
        match key.as_str() {
            "top" => match value.parse::<usize>() {
                Ok(k) if (1..=100).contains(&k) => p.top = k,
                _ => return Err(bad(format!("top={value:?}: expected a whole number from 1 to 100"))),
            },
            "score_threshold" => match value.parse::<f32>() {
                Ok(t) if (0.0..=1.0).contains(&t) => p.score_threshold = t,
                _ => return Err(bad(format!("score_threshold={value:?}: expected a number from 0 to 1"))),
            },
            "format" => match value.as_str() {
                "json" => p.png = false,
                "png" => p.png = true,
                _ => return Err(bad(format!("format={value:?}: expected json or png"))),
            },
            other => return Err(bad(format!("unknown parameter {other:?} (top, score_threshold, format)"))),
        }
    }
    Ok(p)
}

/// The image's bytes: the whole body (`image/*`, `application/octet-stream` or no type), or the
/// first file of a `multipart/form-data` body; 413 beyond the body limit (from Content-Length
/// before reading), 408 when the body is not sent in time, 415 for other types.
async fn read_image_bytes(req: Request, config: &ServeConfig) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("body over {} bytes", config.max_body));
    let declared = content_length(req.headers());
    if declared.is_some_and(|n| n > config.max_body as u64) {
        return Err(too_large());
    }
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let essence = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let read = async {
        if essence == "multipart/form-data" {
            first_file(req).await
        } else if raw_image_type(&essence) {
            axum::body::to_bytes(req.into_body(), config.max_body).await.map_err(|_| too_large())
        } else {
            let msg = format!(
                "content type {kind:?}: send an image (image/*, application/octet-stream) or multipart/form-data"
            );
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, msg))
        }
    };
    let bytes = tokio::time::timeout(config.body_timeout, read)
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "the body was not sent in time"))??;
    if bytes.is_empty() {
        return Err(ApiError::bad_image("empty body: send an image".into()));
    }
    Ok(bytes)
}

/// Content types whose body is the image itself; `application/x-www-form-urlencoded` is what
/// `curl --data-binary @photo.jpg` sends without `-H 'Content-Type: ...'`, so it counts too
/// (the decoder reads the format from the bytes).
fn raw_image_type(essence: &str) -> bool {
    essence.is_empty()
        || essence.starts_with("image/")
        || essence == "application/octet-stream"
        || essence == "application/x-www-form-urlencoded"
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The first field of a multipart body that carries a file (or is named `image`).
async fn first_file(req: Request<Body>) -> Result<Bytes, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let mut form = Multipart::from_request(req, &()).await.map_err(|e| bad(format!("multipart: {}", e.body_text())))?;
    loop {
        let field = form.next_field().await.map_err(|e| multipart_error(e.status(), e.body_text()))?;
        let Some(field) = field else {
            return Err(bad("multipart body without a file field".into()));
        };
        if field.file_name().is_some() || field.name() == Some("image") {
            return field.bytes().await.map_err(|e| multipart_error(e.status(), e.body_text()));
        }
    }
}

fn multipart_error(status: StatusCode, text: String) -> ApiError {
    let status = if status == StatusCode::PAYLOAD_TOO_LARGE { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, format!("multipart: {text}"))
}
