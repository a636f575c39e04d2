//! Counters for `/metrics` in Prometheus' text format: requests by route and status, request
//! latency and batch size histograms, batches run on the whole-machine engine, and each model's
//! queue depth.

use crate::batcher::ModelHandle;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
/// Upper bounds of the batch size histogram.
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0];

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<Histogram<12>>,
    batches: Mutex<Histogram<8>>,
    /// Batches run alone on the engine of every core (see `batcher::worker`).
    whole_machine: AtomicU64,
}

struct Histogram<const N: usize> {
    counts: [u64; N],
    count: u64,
    sum: f64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram { counts: [0; N], count: 0, sum: 0.0 }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&mut self, bounds: &[f64; N], v: f64) {
        for (c, &b) in self.counts.iter_mut().zip(bounds) {
            if v <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn render(&self, out: &mut String, name: &str, bounds: &[f64; N]) {
        for (c, b) in self.counts.iter().zip(bounds) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

impl Metrics {
    /// One answered request: its route (the path's pattern, not the path), status and time.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r.entry((route.to_string(), status)).or_default() += 1;
        drop(r);
        self.latency.lock().unwrap_or_else(|e| e.into_inner()).observe(&LATENCY_BUCKETS, seconds);
    }

    /// One engine batch of `size` requests.
    pub fn batch(&self, size: usize) {
        self.batches.lock().unwrap_or_else(|e| e.into_inner()).observe(&BATCH_BUCKETS, size as f64);
    }

    /// One batch run alone on the engine of every core.
    pub fn whole_machine_batch(&self) {
        self.whole_machine.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, models: &[ModelHandle]) -> String {
        let mut out = String::new();
        out.push_str("# HELP mnv2_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE mnv2_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "mnv2_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP mnv2_request_seconds Time from request to answer.\n");
        out.push_str("# TYPE mnv2_request_seconds histogram\n");
        self.latency.lock().unwrap_or_else(|e| e.into_inner()).render(
            &mut out,
            "mnv2_request_seconds",
            &LATENCY_BUCKETS,
        );
        out.push_str("# HELP mnv2_batch_size Requests per engine batch.\n");
        out.push_str("# TYPE mnv2_batch_size histogram\n");
        self.batches.lock().unwrap_or_else(|e| e.into_inner()).render(&mut out, "mnv2_batch_size", &BATCH_BUCKETS);
        out.push_str("# HELP mnv2_whole_machine_batches_total Batches run alone on every core (a lone request).\n");
        out.push_str("# TYPE mnv2_whole_machine_batches_total counter\n");
        let n = self.whole_machine.load(Ordering::Relaxed);
        let _ = writeln!(out, "mnv2_whole_machine_batches_total {n}");
        out.push_str("# HELP mnv2_queue_depth Requests waiting for a batch, by model.\n");
        out.push_str("# TYPE mnv2_queue_depth gauge\n");
        for m in models {
            let _ = writeln!(out, "mnv2_queue_depth{{model=\"{}\"}} {}", m.name, m.waiting());
        }
        out
    }
}
