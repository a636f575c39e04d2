//! A linear classifier trained on fixed features (a "linear probe" of a frozen backbone):
//! softmax cross-entropy with label smoothing, mini-batches, any optimiser and schedule.

use crate::data::Rng;
use crate::loss::cross_entropy;
use crate::optim::{Optimizer, Schedule, State, learning_rate, step};
use crate::{Saved, TrainError};
use serde_json::{Value, json};
use std::path::Path;

/// Weights `[classes][dim]` and bias, with their optimiser state.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub dim: usize,
    pub classes: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub state_w: State,
    pub state_b: State,
}

/// Settings of one probe training.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    pub optimizer: Optimizer,
    pub lr: f32,
    pub schedule: Schedule,
    pub warmup: f32,
    pub weight_decay: f32,
    pub smoothing: f32,
    pub batch: usize,
}

impl Linear {
    pub fn zeros(dim: usize, classes: usize) -> Linear {
        Linear {
            dim,
            classes,
            w: vec![0.0; dim * classes],
            b: vec![0.0; classes],
            state_w: State::default(),
            state_b: State::default(),
        }
    }

    /// Class scores of one feature vector.
    pub fn logits(&self, x: &[f32], out: &mut [f32]) {
        for (c, o) in out.iter_mut().enumerate() {
            *o = self.b[c] + self.w[c * self.dim..(c + 1) * self.dim].iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
        }
    }

    /// Fraction of `features` (rows of `dim`) whose top-1 equals the label.
    pub fn accuracy(&self, features: &[f32], labels: &[usize]) -> f64 {
        let mut out = vec![0.0; self.classes];
        let mut correct = 0;
        for (x, &y) in features.chunks_exact(self.dim).zip(labels) {
            self.logits(x, &mut out);
            let top = out.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
            correct += (top == y) as usize;
        }
        correct as f64 / labels.len().max(1) as f64
    }

    /// One epoch over shuffled data; returns (mean loss, train accuracy).
    pub fn train_epoch(
        &mut self,
        features: &[f32],
        labels: &[usize],
        cfg: &ProbeConfig,
        epoch: usize,
        rng: &mut Rng,
    ) -> (f64, f64) {
        let n = labels.len();
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let batches = n.div_ceil(cfg.batch);
        for (bi, chunk) in order.chunks(cfg.batch).enumerate() {
            let m = chunk.len();
            let mut logits = vec![0.0; m * self.classes];
            for (r, &i) in chunk.iter().enumerate() {
                self.logits(
                    &features[i * self.dim..(i + 1) * self.dim],
                    &mut logits[r * self.classes..(r + 1) * self.classes],
                );
            }
            let ys: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
            for (row, &y) in logits.chunks_exact(self.classes).zip(&ys) {
                let top = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
                correct += (top == y) as usize;
            }
            let mut d = vec![0.0; logits.len()];
            loss_sum += cross_entropy(&logits, &ys, self.classes, cfg.smoothing, &mut d) as f64 * m as f64;
            let (mut gw, mut gb) = (vec![0.0; self.w.len()], vec![0.0; self.classes]);
            for (r, &i) in chunk.iter().enumerate() {
                let x = &features[i * self.dim..(i + 1) * self.dim];
                for c in 0..self.classes {
                    let g = d[r * self.classes + c];
                    gb[c] += g;
                    gw[c * self.dim..(c + 1) * self.dim].iter_mut().zip(x).for_each(|(a, v)| *a += g * v);
                }
            }
            let lr = learning_rate(cfg.lr, cfg.schedule, epoch as f32 + bi as f32 / batches as f32, cfg.warmup);
            step(cfg.optimizer, &mut self.w, &gw, &mut self.state_w, lr, cfg.weight_decay);
            step(cfg.optimizer, &mut self.b, &gb, &mut self.state_b, lr, 0.0);
        }
        (loss_sum / n as f64, correct as f64 / n as f64)
    }
}

impl Linear {
    /// Saves the weights, their optimizer state, `rng`, the epochs done and the options as a
    /// JSON file (written atomically).
    pub fn save_state(&self, path: &Path, rng: Rng, epoch: usize, config: &str) -> Result<(), TrainError> {
        let v = json!({"epoch": epoch, "rng": rng.0.to_string(), "config": config, "w": self.w, "b": self.b,
            "w_first": self.state_w.first, "w_second": self.state_w.second, "w_steps": self.state_w.steps,
            "b_first": self.state_b.first, "b_second": self.state_b.second, "b_steps": self.state_b.steps});
        mnv2_import::safetensors::write_atomic(path, v.to_string().as_bytes())?;
        Ok(())
    }

    /// Loads a state saved by [`Linear::save_state`] for `dim` features and `classes` classes.
    pub fn load_state(path: &Path, dim: usize, classes: usize) -> Result<(Linear, Saved), TrainError> {
        let bad = |why: &str| TrainError::checkpoint(path, why);
        let bytes = mnv2_limits::read_file(path, 1 << 30, "a training checkpoint")
            .map_err(|e| bad(&format!("nothing to resume from: {e}")))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not a checkpoint"))?;
        let floats = |k: &str| -> Vec<f32> {
            v[k].as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect()).unwrap_or_default()
        };
        let mut lin = Linear::zeros(dim, classes);
        (lin.w, lin.b) = (floats("w"), floats("b"));
        if lin.w.len() != dim * classes || lin.b.len() != classes {
            return Err(bad("does not match this dataset and backbone"));
        }
        lin.state_w =
            State { first: floats("w_first"), second: floats("w_second"), steps: v["w_steps"].as_u64().unwrap_or(0) };
        lin.state_b =
            State { first: floats("b_first"), second: floats("b_second"), steps: v["b_steps"].as_u64().unwrap_or(0) };
        let rng = Rng(v["rng"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad("no rng state"))?);
        let config = v["config"].as_str().map(str::to_string);
        Ok((lin, Saved { epoch: v["epoch"].as_u64().unwrap_or(0) as usize, rng, config }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_classes_and_reduces_the_loss() {
        // Two Gaussian-ish blobs in 4 dimensions.
        let mut rng = Rng(3);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let c = i % 2;
            for d in 0..4 {
                x.push(if d == c { 2.0 } else { 0.0 } + rng.uniform() - 0.5);
            }
            y.push(c);
        }
        let cfg = ProbeConfig {
            optimizer: Optimizer::parse("sgd").unwrap(),
            lr: 0.1,
            schedule: Schedule::Constant,
            warmup: 0.0,
            weight_decay: 0.0,
            smoothing: 0.1,
            batch: 16,
        };
        let mut lin = Linear::zeros(4, 2);
        let (first, _) = lin.train_epoch(&x, &y, &cfg, 0, &mut rng);
        let mut last = first;
        for e in 1..5 {
            last = lin.train_epoch(&x, &y, &cfg, e, &mut rng).0;
        }
        assert!(last < first, "{last} !< {first}");
        assert!(lin.accuracy(&x, &y) > 0.97);
    }
}
