//! `mnv2 serve`: the HTTP server (see the `mnv2-serve` crate).

use crate::args::ServeArgs;
use anyhow::Context;
use mnv2_serve::{ModelSpec, ServeConfig};
use std::process::ExitCode;
use std::time::Duration;

pub fn main(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let models = if a.models.is_empty() { default_models()? } else { a.models.clone() };
    let config = ServeConfig {
        addr: a.addr,
        threads: a.threads,
        instances: a.instances,
        precision: a.precision,
        max_batch: a.max_batch,
        max_wait: Duration::from_millis(a.max_wait_ms),
        queue: a.queue,
        max_body: usize::try_from(a.max_body).context("--max-body")?,
        header_timeout: Duration::from_secs(a.header_timeout.max(1)),
        body_timeout: Duration::from_secs(a.body_timeout.max(1)),
        max_connections: a.max_connections,
        // The limits: ServeConfig::default() reads the process-wide ones main has set.
        ..ServeConfig::default()
    };
    mnv2_serve::run(config, &models)?;
    Ok(ExitCode::SUCCESS)
}

/// The three default models of `classify`, `segment` and `detect`, as cls, seg and det.
fn default_models() -> anyhow::Result<Vec<ModelSpec>> {
    Ok(vec![
        ModelSpec { name: "cls".into(), path: mnv2::default_model_path()? },
        ModelSpec { name: "seg".into(), path: mnv2::default_segmentation_model_path()? },
        ModelSpec { name: "det".into(), path: mnv2::default_detection_model_path()? },
    ])
}
