//! Optimisers and learning-rate schedules: RMSProp as the paper trains (TensorFlow's form),
//! SGD with momentum, AdamW; decoupled or L2 weight decay; exponential decay per epoch, cosine,
//! linear warm-up; and an exponential moving average of the weights.

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// TensorFlow's RMSProp: `ms = decay ms + (1 - decay) g^2`, `mom = momentum mom +
    /// lr g / sqrt(ms + eps)`, `w -= mom` (eps inside the root; the paper: decay 0.9, momentum 0.9).
    RmsProp { decay: f32, momentum: f32, eps: f32 },
    /// `v = momentum v + g`, `w -= lr v`.
    Sgd { momentum: f32 },
    /// Adam with decoupled weight decay.
    AdamW { beta1: f32, beta2: f32, eps: f32 },
}

impl Optimizer {
    pub fn rmsprop() -> Optimizer {
        Optimizer::RmsProp { decay: 0.9, momentum: 0.9, eps: 1.0 }
    }
    pub fn parse(name: &str) -> Result<Optimizer, crate::TrainError> {
        match name {
            "rmsprop" => Ok(Optimizer::rmsprop()),
            "sgd" => Ok(Optimizer::Sgd { momentum: 0.9 }),
            "adamw" => Ok(Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
            other => Err(crate::TrainError::Options(format!("unknown optimizer {other:?} (rmsprop, sgd, adamw)"))),
        }
    }
}

/// Per-tensor optimiser state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub first: Vec<f32>,
    pub second: Vec<f32>,
    pub steps: u64,
}

/// One update of `w` with gradient `g`; `weight_decay` is added to the gradient (L2, the paper's
/// form) for RMSProp and SGD and decoupled for AdamW.
pub fn step(opt: Optimizer, w: &mut [f32], g: &[f32], state: &mut State, lr: f32, weight_decay: f32) {
    if state.first.len() != w.len() {
        state.first = vec![0.0; w.len()];
        state.second = vec![0.0; w.len()];
    }
    state.steps += 1;
    // Zipped slices rather than indices, so the loops vectorise (the same operations in the same
    // order on each element: the same bits).
    let State { first, second, .. } = state;
    let each = w.iter_mut().zip(g).zip(first.iter_mut().zip(second.iter_mut()));
    match opt {
        Optimizer::RmsProp { decay, momentum, eps } => {
            for ((w, &g), (mom, ms)) in each {
                let gi = g + weight_decay * *w;
                *ms = decay * *ms + (1.0 - decay) * gi * gi;
                *mom = momentum * *mom + lr * gi / (*ms + eps).sqrt();
                *w -= *mom;
            }
        }
        Optimizer::Sgd { momentum } => {
            for ((w, &g), (v, _)) in each {
                let gi = g + weight_decay * *w;
                *v = momentum * *v + gi;
                *w -= lr * *v;
            }
        }
        Optimizer::AdamW { beta1, beta2, eps } => {
            let t = state.steps as i32;
            let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
            for ((w, &g), (m, v)) in each {
                *w -= lr * weight_decay * *w;
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * g * g;
                *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            }
        }
    }
}

/// Learning rate over training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant,
    /// `lr * rate^(epoch / epochs_per_decay)` (the paper: 0.98 per epoch; the release 0.98 per 2.5).
    Exponential {
        rate: f32,
        epochs_per_decay: f32,
    },
    /// Half a cosine from `lr` to 0 over all epochs.
    Cosine {
        epochs: f32,
    },
}

impl Schedule {
    /// The schedule named `cosine` (over `epochs`), `exponential` (0.98 per epoch) or `constant`.
    pub fn parse(name: &str, epochs: usize) -> Result<Schedule, crate::TrainError> {
        Ok(match name {
            "cosine" => Schedule::Cosine { epochs: epochs as f32 },
            "exponential" => Schedule::Exponential { rate: 0.98, epochs_per_decay: 1.0 },
            "constant" => Schedule::Constant,
            other => {
                let why = format!("unknown schedule {other:?} (cosine, exponential, constant)");
                return Err(crate::TrainError::Options(why));
            }
        })
    }
}

/// The learning rate at fractional `epoch`, with a linear warm-up over the first `warmup` epochs.
pub fn learning_rate(base: f32, schedule: Schedule, epoch: f32, warmup: f32) -> f32 {
    let lr = match schedule {
        Schedule::Constant => base,
        Schedule::Exponential { rate, epochs_per_decay } => base * rate.powf((epoch / epochs_per_decay).floor()),
        Schedule::Cosine { epochs } => base * 0.5 * (1.0 + (std::f32::consts::PI * (epoch / epochs).min(1.0)).cos()),
    };
    if warmup > 0.0 && epoch < warmup { lr * (epoch / warmup).max(1e-3) } else { lr }
}

/// Exponential moving average of weights: `ema = decay ema + (1 - decay) w`.
pub fn ema_update(ema: &mut [f32], w: &[f32], decay: f32) {
    for (e, &v) in ema.iter_mut().zip(w) {
        *e = decay * *e + (1.0 - decay) * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_of_each_by_hand() {
        // RMSProp: ms = 0.1 * 4 = 0.4, mom = 0.1 * 2 / sqrt(1.4), w = 1 - that.
        let (mut w, mut s) = (vec![1.0], State::default());
        step(Optimizer::rmsprop(), &mut w, &[2.0], &mut s, 0.1, 0.0);
        assert!((w[0] - (1.0 - 0.2 / 1.4f32.sqrt())).abs() < 1e-6);
        // SGD with L2: g = 2 + 0.5 * 1 = 2.5; w = 1 - 0.1 * 2.5.
        let (mut w, mut s) = (vec![1.0], State::default());
        step(Optimizer::Sgd { momentum: 0.9 }, &mut w, &[2.0], &mut s, 0.1, 0.5);
        assert!((w[0] - 0.75).abs() < 1e-6);
        // AdamW first step: the bias-corrected moments give a step of lr * sign(g).
        let (mut w, mut s) = (vec![1.0], State::default());
        step(Optimizer::parse("adamw").unwrap(), &mut w, &[2.0], &mut s, 0.1, 0.0);
        assert!((w[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn schedules() {
        let exp = Schedule::Exponential { rate: 0.98, epochs_per_decay: 2.5 };
        assert_eq!(learning_rate(0.045, exp, 2.4, 0.0), 0.045);
        assert!((learning_rate(0.045, exp, 2.5, 0.0) - 0.045 * 0.98).abs() < 1e-9);
        let cos = Schedule::Cosine { epochs: 10.0 };
        assert!((learning_rate(1.0, cos, 5.0, 0.0) - 0.5).abs() < 1e-6);
        assert!(learning_rate(1.0, cos, 10.0, 0.0).abs() < 1e-6);
        assert!((learning_rate(1.0, Schedule::Constant, 0.5, 1.0) - 0.5).abs() < 1e-6);
        let mut e = vec![1.0];
        ema_update(&mut e, &[3.0], 0.75);
        assert_eq!(e, vec![1.5]);
    }
}
