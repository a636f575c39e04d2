//! What the server may take: sizes, times and counts, with defaults for a small machine.

use crate::ServeError;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of `mnv2 serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    /// Engine worker threads per model instance (0: one per core). With 1, each instance's
    /// worker also decodes its batch's images (else they are decoded on the blocking pool).
    pub threads: usize,
    /// Engines per model, each running its own batches (Triton's instance count): under load,
    /// `cores` instances of one thread each keep every core on a batch of its own.
    pub instances: usize,
    pub precision: mnv2::Precision,
    /// Most requests one engine batch gathers.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others.
    pub max_wait: Duration,
    /// Requests waiting per model beyond those running; more are answered 503 (0 refuses all).
    pub queue: usize,
    /// Largest request body in bytes (413 beyond, refused from its Content-Length unread).
    pub max_body: usize,
    /// Time a client has to send a request's headers (slow clients are cut off).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body (408 after).
    pub body_timeout: Duration,
    /// Connections held at once (an idle one costs a parked task and its buffers, a few KiB);
    /// more wait in the listen backlog.
    pub max_connections: usize,
    /// Time in-flight requests get to finish on shutdown.
    pub drain: Duration,
    /// The hostile-input caps (image pixels) applied to every decoded image.
    pub limits: mnv2::Limits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: 0,
            instances: 1,
            precision: mnv2::Precision::Auto,
            max_batch: 8,
            max_wait: Duration::from_millis(2),
            queue: 64,
            max_body: 16 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 2048,
            drain: Duration::from_secs(30),
            limits: mnv2::Limits::global(),
        }
    }
}

impl ServeConfig {
    pub(crate) fn check(&self) -> Result<(), ServeError> {
        let bad = |what: &str| Err(ServeError::Config(what.to_string()));
        if self.max_batch == 0 || self.max_batch > 256 {
            return bad("max batch must be 1 to 256");
        }
        if self.instances == 0 || self.instances > 64 {
            return bad("instances must be 1 to 64");
        }
        if self.max_connections == 0 {
            return bad("max connections must be at least 1");
        }
        if self.max_body == 0 {
            return bad("max body must be at least 1 byte");
        }
        if self.max_wait > Duration::from_secs(10) {
            return bad("max wait must be at most 10 s");
        }
        Ok(())
    }
}
