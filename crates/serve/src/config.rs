//! What the server may take: sizes, times and counts, with defaults for a small machine.

use crate::ServeError;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings of `mnv2 serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    /// Engine worker threads per model instance (0: the cores shared out among the instances,
    /// see [`ServeConfig::resolve`]). With 1, each instance's worker also decodes its batch's
    /// images (else they are decoded on the blocking pool).
    pub threads: usize,
    /// Engines per model, each running its own batches on the same weights (Triton's instance
    /// count, TorchServe's workers); 0: one per core, up to [`AUTO_INSTANCES`], or as many as
    /// the cores hold engines of `threads` threads.
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
            instances: 0,
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

/// Most instances a model may have.
pub const MAX_INSTANCES: usize = 64;
/// Most instances the automatic count gives a model; beyond as many cores, each gets more threads.
pub const AUTO_INSTANCES: usize = 16;

impl ServeConfig {
    /// The instances and threads per instance for `cores` cores, where either is 0 (automatic):
    /// under load one job per core gives the most throughput (each core runs its own batch, its
    /// worker decoding the batch's images, instead of splitting every batch across the cores),
    /// and a lone request still gets every core (the batcher's whole-machine engine).
    pub fn resolve(&self, cores: usize) -> (usize, usize) {
        let cores = cores.max(1);
        match (self.instances, self.threads) {
            (0, 0) => {
                let instances = cores.min(AUTO_INSTANCES);
                (instances, (cores / instances).max(1))
            }
            (0, t) => ((cores / t).clamp(1, AUTO_INSTANCES), t),
            (n, 0) => (n, (cores / n).max(1)),
            (n, t) => (n, t),
        }
    }

    pub(crate) fn check(&self) -> Result<(), ServeError> {
        let bad = |what: &str| Err(ServeError::Config(what.to_string()));
        if self.max_batch == 0 || self.max_batch > 256 {
            return bad("max batch must be 1 to 256");
        }
        if self.instances > MAX_INSTANCES {
            return bad("instances must be 1 to 64 (0: automatic)");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(instances: usize, threads: usize, cores: usize) -> (usize, usize) {
        ServeConfig { instances, threads, ..ServeConfig::default() }.resolve(cores)
    }

    #[test]
    fn automatic_instances_take_one_core_each_up_to_sixteen() {
        assert_eq!(resolved(0, 0, 1), (1, 1));
        assert_eq!(resolved(0, 0, 2), (2, 1));
        assert_eq!(resolved(0, 0, 16), (16, 1));
        assert_eq!(resolved(0, 0, 64), (16, 4)); // beyond 16 cores, more threads each
        assert_eq!(resolved(0, 2, 8), (4, 2)); // the cores hold four engines of two threads
        assert_eq!(resolved(0, 4, 2), (1, 4)); // more threads than cores: still one
        assert_eq!(resolved(1, 0, 8), (1, 8)); // one engine: every core
        assert_eq!(resolved(3, 0, 8), (3, 2));
        assert_eq!(resolved(3, 5, 8), (3, 5)); // both given: as given
    }
}
