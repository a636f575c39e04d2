//! What `--resume` checks: the training options are those the checkpoint was made with (unless
//! `--allow-changes`), there is something left to train, and the metrics file holds only the
//! epochs the checkpoint has (a run killed after appending an epoch's line but before saving its
//! state repeats that epoch).

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::Path;

/// The options of a run that change its result, as a JSON object stored with its checkpoint.
pub fn config(pairs: &[(&str, Value)]) -> String {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).to_string()
}

/// A path option as JSON: the canonical path where it exists (so `./data` and `data` agree).
pub fn path(p: &Path) -> Value {
    serde_json::json!(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string())
}

/// A training run's files and the options that bear on resuming it.
pub struct Run<'a> {
    pub output: &'a Path,
    /// The training state beside the output (`OUT.<state suffix>`).
    pub state: std::path::PathBuf,
    /// `OUT.metrics.jsonl`.
    pub metrics: std::path::PathBuf,
    /// [`config`] of this invocation's options.
    pub config: &'a str,
    pub allow_changes: bool,
    pub epochs: usize,
    pub stop_after: Option<usize>,
}

impl<'a> Run<'a> {
    /// The run writing `output`, its state in `OUT.<state_suffix>` and its metrics in
    /// `OUT.metrics.jsonl`, with the options `config` (and `--allow-changes`, `--epochs`,
    /// `--stop-after`).
    pub fn new(
        output: &'a Path,
        state_suffix: &str,
        config: &'a str,
        (allow_changes, epochs, stop_after): (bool, usize, Option<usize>),
    ) -> Run<'a> {
        let (state, metrics) =
            (crate::train::sidecar(output, state_suffix), crate::train::sidecar(output, "metrics.jsonl"));
        Run { output, state, metrics, config, allow_changes, epochs, stop_after }
    }

    /// After loading a checkpoint of `done` epochs made with the options `stored`: refuses
    /// changed options (unless allowed), returns false (having said why) when nothing is left to
    /// train, and trims the metrics file to the checkpoint's epochs.
    pub fn resume_from(&self, done: usize, stored: Option<&str>) -> anyhow::Result<bool> {
        check_config(stored, self.config, self.allow_changes, &self.state)?;
        if !work_left(done, self.epochs, self.stop_after.unwrap_or(self.epochs), self.output) {
            return Ok(false);
        }
        trim_metrics(&self.metrics, done)?;
        Ok(true)
    }
}

/// A float option as JSON, written as it was typed (`0.001`, not the f32's `0.0010000000474974513`).
pub fn num(v: f32) -> Value {
    v.to_string().parse::<f64>().map_or(Value::Null, |x| serde_json::json!(x))
}

/// Refuses to resume with options other than the checkpoint's (each difference named) unless
/// `allow`, in which case the differences are printed and the new values used.
pub fn check_config(stored: Option<&str>, current: &str, allow: bool, state: &Path) -> anyhow::Result<()> {
    let current: Value = serde_json::from_str(current).expect("config() makes JSON");
    let Some(stored) = stored else {
        if allow {
            return Ok(());
        }
        bail!(
            "{} does not record the options it was trained with; pass --allow-changes to resume anyway",
            state.display()
        );
    };
    let stored: Value = serde_json::from_str(stored).with_context(|| format!("{}: bad options", state.display()))?;
    let mut changes = Vec::new();
    for (key, now) in current.as_object().into_iter().flatten() {
        let before = stored.get(key).unwrap_or(&Value::Null);
        if before != now {
            changes.push(format!("--{} {before} -> {now}", key.replace('_', "-")));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    if allow {
        eprintln!("mnv2: resuming with changed options: {}", changes.join(", "));
        return Ok(());
    }
    bail!(
        "{} was trained with other options ({}); resume with the same options, or pass --allow-changes",
        state.display(),
        changes.join(", ")
    )
}

/// Whether a run with `done` epochs of `epochs` checkpointed has work left before `last`; if not,
/// says why on stderr.
pub fn work_left(done: usize, epochs: usize, last: usize, output: &Path) -> bool {
    if done >= epochs {
        eprintln!(
            "mnv2: {}: training already finished ({done} of {}); nothing to do",
            output.display(),
            crate::count(epochs, "epoch")
        );
        false
    } else if done >= last {
        eprintln!(
            "mnv2: {}: the checkpoint is at epoch {done} already, at or past --stop-after {last}; nothing to do",
            output.display()
        );
        false
    } else {
        true
    }
}

/// Keeps only the lines of epochs up to `done` in a metrics file (one JSON object per line).
pub fn trim_metrics(path: &Path, done: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l).ok().and_then(|v| v["epoch"].as_u64()).is_some_and(|e| e as usize <= done)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::files::write(path, kept.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_options_are_named_and_refused_unless_allowed() {
        let state = Path::new("out.train.safetensors");
        let before = config(&[("lr", json!(0.001)), ("batch", json!(8))]);
        assert!(check_config(Some(&before), &before, false, state).is_ok());
        let after = config(&[("lr", json!(0.002)), ("batch", json!(8))]);
        let msg = check_config(Some(&before), &after, false, state).unwrap_err().to_string();
        assert!(msg.contains("--lr 0.001 -> 0.002") && !msg.contains("--batch"), "{msg}");
        assert!(check_config(Some(&before), &after, true, state).is_ok());
        assert!(check_config(None, &after, false, state).is_err());
    }

    #[test]
    fn finished_runs_have_no_work_left() {
        let out = Path::new("x");
        assert!(work_left(2, 4, 4, out));
        assert!(!work_left(4, 4, 4, out));
        assert!(!work_left(2, 4, 2, out));
    }
}
