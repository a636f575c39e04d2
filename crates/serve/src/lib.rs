//! `mnv2 serve`: MobileNetV2 over HTTP. Each loaded model gets one endpoint for its task
//! (`POST /v1/models/{name}/classify|segment|detect`, an image in the body or as multipart form
//! data, JSON or PNG back), its own worker thread that gathers concurrent requests into engine
//! batches (dynamic batching, bounded size and wait), and a bounded queue (503 with
//! `Retry-After` when full). Around them: body, pixel, connection and header-time limits,
//! `/healthz`, `/readyz`, Prometheus `/metrics`, an access log, `/openapi.json`, a web page at
//! `/`, and graceful shutdown (in-flight requests finish, new ones are refused).

mod api;
mod batcher;
mod config;
mod error;
mod listener;
mod metrics;
mod models;

pub use config::ServeConfig;
pub use error::ServeError;
pub use models::{ModelSpec, TaskKind};

use std::net::SocketAddr;
use std::sync::Arc;

/// A running server: its address, and the way to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// Engines per model and threads per engine, as [`ServeConfig::resolve`] chose them.
    pub instances: usize,
    pub threads: usize,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the drain time), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
}

/// Loads the models and starts serving on `config.addr` inside the current tokio runtime.
pub async fn start(config: ServeConfig, specs: &[ModelSpec]) -> Result<Running, ServeError> {
    config.check()?;
    // Before any model is loaded: a second model of the same name could never be reached.
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|s| s.name == spec.name) {
            return Err(ServeError::DuplicateName(spec.name.clone()));
        }
    }
    let (instances, threads) = config.resolve(cores());
    let config = Arc::new(ServeConfig { instances, threads, ..config });
    let metrics = Arc::new(metrics::Metrics::default());
    let mut handles = Vec::new();
    for spec in specs {
        // One load and compile; the other instances share its weights. With several instances,
        // one more engine, compiled for all their threads (up to the cores), runs a request that
        // comes alone (a plan is made for its thread count, so this one is compiled apart).
        let (engines, whole) = tokio::task::block_in_place(|| {
            let first = models::Engine::load(spec, &config)?;
            let mut engines = Vec::with_capacity(instances);
            for _ in 1..instances {
                engines.push(first.instance(&spec.name)?);
            }
            let whole_threads = (instances * threads).min(cores());
            let whole = if whole_threads > threads {
                Some(models::Engine::load(spec, &ServeConfig { threads: whole_threads, ..(*config).clone() })?)
            } else {
                None
            };
            engines.push(first);
            Ok::<_, ServeError>((engines, whole))
        })?;
        handles.push(batcher::spawn(spec.name.clone(), engines, whole, &config, metrics.clone()));
    }
    let state = api::State::new(handles, config.clone(), metrics);
    let app = api::router(state.clone());
    let bind_error = |e: std::io::Error| ServeError::Bind(config.addr.to_string(), e.to_string());
    let listener = listen(config.addr).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
            state.begin_shutdown();
        };
        listener::serve(listener, app, &config, shutdown).await;
    });
    Ok(Running { addr, instances, threads, stop, done })
}

/// A listening socket with a deep accept backlog (4,096), where connections beyond
/// `max_connections` wait to be accepted.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves until SIGTERM or Ctrl-C, then shuts down gracefully: the whole `mnv2 serve`.
pub fn run(config: ServeConfig, specs: &[ModelSpec]) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    runtime.block_on(async {
        let running = start(config, specs).await?;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        eprintln!(
            "mnv2 serve: listening on http://{} ({} instance{} of {} thread{} per model)",
            running.addr,
            running.instances,
            plural(running.instances),
            running.threads,
            plural(running.threads)
        );
        wait_for_signal().await;
        eprintln!("mnv2 serve: shutting down (finishing requests in flight)");
        running.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
