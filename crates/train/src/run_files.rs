//! The files of a training run beside its output model `OUT.safetensors`: the training state
//! (`OUT.train.safetensors` or `OUT.state.json`), one JSON line of figures per epoch
//! (`OUT.metrics.jsonl`) and their curves (`OUT.curves.png`); and what resuming checks: the
//! options are those the state was made with, there is work left, and the metrics file holds only
//! the epochs the state has (a run killed after appending an epoch's line but before saving its
//! state repeats that epoch).

use crate::TrainError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `OUT.<suffix>` beside the model file `out`.
pub fn sidecar(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.{suffix}"))
}

/// The options of a run that change its result, as a JSON object stored with its state.
pub fn config(pairs: &[(&str, Value)]) -> String {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).to_string()
}

/// A path option as JSON: the canonical path where it exists (so `./data` and `data` agree).
pub fn path_value(p: &Path) -> Value {
    serde_json::json!(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string())
}

/// A float option as JSON, written as it was typed (`0.001`, not the f32's `0.0010000000474974513`).
pub fn num(v: f32) -> Value {
    v.to_string().parse::<f64>().map_or(Value::Null, |x| serde_json::json!(x))
}

/// A training run's files.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub output: PathBuf,
    pub state: PathBuf,
    pub metrics: PathBuf,
    pub curves: PathBuf,
}

impl RunFiles {
    /// The files of the run writing `output`, its state in `OUT.<state_suffix>`.
    pub fn new(output: &Path, state_suffix: &str) -> RunFiles {
        RunFiles {
            output: output.to_path_buf(),
            state: sidecar(output, state_suffix),
            metrics: sidecar(output, "metrics.jsonl"),
            curves: sidecar(output, "curves.png"),
        }
    }

    /// Every epoch's figures so far (lines that are not JSON are passed over).
    pub fn history(&self) -> Result<Vec<Value>, TrainError> {
        let text = std::fs::read_to_string(&self.metrics).map_err(TrainError::write(&self.metrics))?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Appends one epoch's figures to the metrics file.
    pub fn append(&self, line: &Value) -> Result<(), TrainError> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.metrics)
            .map_err(TrainError::write(&self.metrics))?;
        writeln!(f, "{line}").map_err(TrainError::write(&self.metrics))
    }

    /// Empties the metrics file (a run starting afresh).
    pub fn clear_metrics(&self) -> Result<(), TrainError> {
        std::fs::write(&self.metrics, b"").map_err(TrainError::write(&self.metrics))
    }

    /// Keeps only the lines of epochs up to `done` in the metrics file.
    pub fn trim_metrics(&self, done: usize) -> Result<(), TrainError> {
        let text = std::fs::read_to_string(&self.metrics).unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v["epoch"].as_u64())
                    .is_some_and(|e| e as usize <= done)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&self.metrics, kept).map_err(TrainError::write(&self.metrics))
    }
}

/// Checks the options `stored` with a state against this run's (`current`): Ok with the changes
/// named (empty when none) if they agree or `allow`; an error naming each difference otherwise.
pub fn check_config(stored: Option<&str>, current: &str, allow: bool, state: &Path) -> Result<Vec<String>, TrainError> {
    let current: Value = serde_json::from_str(current).expect("config() makes JSON");
    let Some(stored) = stored else {
        if allow {
            return Ok(Vec::new());
        }
        let why = "does not record the options it was trained with; pass --allow-changes to resume anyway";
        return Err(TrainError::checkpoint(state, why));
    };
    let stored: Value = serde_json::from_str(stored).map_err(|_| TrainError::checkpoint(state, "bad options"))?;
    let mut changes = Vec::new();
    for (key, now) in current.as_object().into_iter().flatten() {
        let before = stored.get(key).unwrap_or(&Value::Null);
        if before != now {
            changes.push(format!("--{} {before} -> {now}", key.replace('_', "-")));
        }
    }
    if changes.is_empty() || allow {
        return Ok(changes);
    }
    let why = format!(
        "was trained with other options ({}); resume with the same options, or pass --allow-changes",
        changes.join(", ")
    );
    Err(TrainError::checkpoint(state, why))
}

/// Why a run with `done` epochs of `epochs` saved has nothing left to do before epoch `last`
/// (`--stop-after`), or None when it has.
pub fn nothing_left(done: usize, epochs: usize, last: usize, output: &Path) -> Option<String> {
    let output = output.display();
    if done >= epochs {
        let plural = if epochs == 1 { "" } else { "s" };
        Some(format!("{output}: training already finished ({done} of {epochs} epoch{plural}); nothing to do"))
    } else if done >= last {
        Some(format!(
            "{output}: the checkpoint is at epoch {done} already, at or past --stop-after {last}; nothing to do"
        ))
    } else {
        None
    }
}

/// What a run's figures say of one measure (`key`, shown as `label`, a 0..1 fraction shown in
/// percent when `percent`): the last value and the best with its epoch.
pub fn headline(history: &[Value], (key, label, percent): (&str, &str, bool)) -> String {
    let value = |v: &Value| v[key].as_f64();
    let best =
        history.iter().filter_map(|v| Some((value(v)?, v["epoch"].as_u64()?))).max_by(|x, y| x.0.total_cmp(&y.0));
    match (history.last().and_then(value), best) {
        (Some(last), Some((best, epoch))) if percent => {
            format!("{label} {:.2}% (best {:.2}% at epoch {epoch})", 100.0 * last, 100.0 * best)
        }
        (Some(last), Some((best, epoch))) => format!("{label} {last:.4} (best {best:.4} at epoch {epoch})"),
        _ => format!("no {label} (nothing held out)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_options_are_named_and_refused_unless_allowed() {
        let state = Path::new("out.train.safetensors");
        let before = config(&[("lr", json!(0.001)), ("batch", json!(8))]);
        assert!(check_config(Some(&before), &before, false, state).unwrap().is_empty());
        let after = config(&[("lr", json!(0.002)), ("batch", json!(8))]);
        let msg = check_config(Some(&before), &after, false, state).unwrap_err().to_string();
        assert!(msg.contains("--lr 0.001 -> 0.002") && !msg.contains("--batch"), "{msg}");
        assert_eq!(check_config(Some(&before), &after, true, state).unwrap(), vec!["--lr 0.001 -> 0.002"]);
        assert!(check_config(None, &after, false, state).is_err());
    }

    #[test]
    fn finished_runs_have_nothing_left() {
        let out = Path::new("x");
        assert_eq!(nothing_left(2, 4, 4, out), None);
        assert!(nothing_left(4, 4, 4, out).unwrap().contains("already finished (4 of 4 epochs)"));
        assert!(nothing_left(2, 4, 2, out).unwrap().contains("--stop-after 2"));
    }

    #[test]
    fn headline_reports_the_last_and_the_best() {
        let h = [json!({"epoch": 1, "acc": 0.5}), json!({"epoch": 2, "acc": 0.25})];
        assert_eq!(headline(&h, ("acc", "top-1", true)), "top-1 25.00% (best 50.00% at epoch 1)");
        assert_eq!(headline(&h[..0], ("acc", "AP", false)), "no AP (nothing held out)");
    }
}
