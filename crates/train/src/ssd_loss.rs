//! SSD losses as the Object Detection API's SSDLite config sets them: weighted sigmoid
//! cross-entropy over every class column (background included) and smooth-L1 (Huber, delta 1) box
//! regression on matched anchors, with hard negative mining (the negatives of highest
//! classification loss, at most 3 per positive and at least 3 per image), both normalised by the
//! number of matched anchors in the batch. Sigmoid focal loss (alpha 0.25, gamma 2, no mining) is
//! the option.

/// One anchor's target: matched to (class slot >= 1, encoded box), or background.
pub type AnchorTarget = Option<(usize, [f32; 4])>;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassLoss {
    /// Sigmoid cross-entropy with hard negative mining.
    Mined { negatives_per_positive: usize, min_negatives: usize },
    /// Sigmoid focal loss on every anchor.
    Focal { alpha: f32, gamma: f32 },
}

impl Default for ClassLoss {
    fn default() -> Self {
        ClassLoss::Mined { negatives_per_positive: 3, min_negatives: 3 }
    }
}

/// Loss parts of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SsdLoss {
    pub localization: f32,
    pub classification: f32,
    pub positives: usize,
}

impl SsdLoss {
    pub fn total(&self) -> f32 {
        self.localization + self.classification
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Binary cross-entropy of logit `x` against target `t`, computed stably.
fn bce(x: f32, t: f32) -> f32 {
    x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()
}

/// Focal loss and its derivative with respect to the logit.
fn focal(x: f32, t: f32, alpha: f32, gamma: f32) -> (f32, f32) {
    let p = sigmoid(x);
    if t > 0.5 {
        // -alpha (1 - p)^gamma log p
        let lp = -bce(x, 1.0);
        let q = 1.0 - p;
        (-alpha * q.powf(gamma) * lp, alpha * q.powf(gamma) * (gamma * p * lp + p - 1.0))
    } else {
        let lq = -bce(x, 0.0); // log(1 - p)
        (-(1.0 - alpha) * p.powf(gamma) * lq, (1.0 - alpha) * p.powf(gamma) * (p - gamma * (1.0 - p) * lq))
    }
}

fn huber(d: f32) -> (f32, f32) {
    if d.abs() < 1.0 { (0.5 * d * d, d) } else { (d.abs() - 0.5, d.signum()) }
}

/// Loss of a batch and its gradients. `codes` is batch x anchors x 4, `logits` batch x anchors x
/// `slots` (background first); `targets` one list per image. Gradients are written (not added)
/// into `dcodes` and `dlogits`.
pub fn ssd_loss(
    codes: &[f32],
    logits: &[f32],
    targets: &[Vec<AnchorTarget>],
    slots: usize,
    kind: ClassLoss,
    dcodes: &mut [f32],
    dlogits: &mut [f32],
) -> SsdLoss {
    let anchors = targets.first().map_or(0, Vec::len);
    assert_eq!(codes.len(), targets.len() * anchors * 4, "box codes");
    assert_eq!(logits.len(), targets.len() * anchors * slots, "logits");
    dcodes.fill(0.0);
    dlogits.fill(0.0);
    let positives: usize = targets.iter().flatten().filter(|t| t.is_some()).count();
    let norm = 1.0 / positives.max(1) as f32;
    let mut out = SsdLoss { positives, ..SsdLoss::default() };
    for (img, tg) in targets.iter().enumerate() {
        let class_of = |a: usize| tg[a].map_or(0, |(c, _)| c);
        let row = |a: usize| (img * anchors + a) * slots;
        // Localisation on matched anchors.
        for (a, t) in tg.iter().enumerate() {
            if let Some((_, code)) = t {
                let base = (img * anchors + a) * 4;
                for k in 0..4 {
                    let (l, g) = huber(codes[base + k] - code[k]);
                    out.localization += l * norm;
                    dcodes[base + k] = g * norm;
                }
            }
        }
        match kind {
            ClassLoss::Focal { alpha, gamma } => {
                for a in 0..anchors {
                    let c = class_of(a);
                    for k in 0..slots {
                        let (l, g) = focal(logits[row(a) + k], (k == c) as u8 as f32, alpha, gamma);
                        out.classification += l * norm;
                        dlogits[row(a) + k] = g * norm;
                    }
                }
            }
            ClassLoss::Mined { negatives_per_positive, min_negatives } => {
                let per_image = (&logits[row(0)..row(anchors)], &mut dlogits[row(0)..row(anchors)]);
                mined(&mut out.classification, per_image, tg, slots, norm, (negatives_per_positive, min_negatives));
            }
        }
    }
    out
}

/// Hard-negative-mined sigmoid cross-entropy of one image (`logits` and `dlogits` its anchors'
/// rows): every matched anchor and the worst negatives, `per_positive` per match (at least
/// `min`); writes the gradients scaled by `norm` and adds the loss to `loss` term by term.
fn mined(
    loss: &mut f32,
    (logits, dlogits): (&[f32], &mut [f32]),
    tg: &[AnchorTarget],
    slots: usize,
    norm: f32,
    (per_positive, min): (usize, usize),
) {
    let class_of = |a: usize| tg[a].map_or(0, |(c, _)| c);
    let anchor_loss = |a: usize| -> f32 {
        let c = class_of(a);
        (0..slots).map(|k| bce(logits[a * slots + k], (k == c) as u8 as f32)).sum()
    };
    let pos = tg.iter().filter(|t| t.is_some()).count();
    let mut negatives: Vec<(f32, usize)> =
        (0..tg.len()).filter(|&a| tg[a].is_none()).map(|a| (anchor_loss(a), a)).collect();
    negatives.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    negatives.truncate((per_positive * pos).max(min));
    let chosen = (0..tg.len()).filter(|&a| tg[a].is_some()).chain(negatives.iter().map(|n| n.1));
    for a in chosen.collect::<Vec<_>>() {
        let c = class_of(a);
        for k in 0..slots {
            let x = logits[a * slots + k];
            let t = (k == c) as u8 as f32;
            *loss += bce(x, t) * norm;
            dlogits[a * slots + k] = (sigmoid(x) - t) * norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_check(kind: ClassLoss) {
        // Two images, five anchors, three slots; anchors 1 and 3 of image 0 matched.
        let (anchors, slots) = (5, 3);
        let mut targets = vec![vec![None; anchors]; 2];
        targets[0][1] = Some((1, [0.5, -0.2, 1.5, 0.1]));
        targets[0][3] = Some((2, [-2.0, 0.3, 0.0, -0.4]));
        let codes: Vec<f32> = (0..2 * anchors * 4).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
        let logits: Vec<f32> = (0..2 * anchors * slots).map(|i| ((i * 53 % 13) as f32 - 6.0) * 0.4).collect();
        let (mut dc, mut dl) = (vec![0.0; codes.len()], vec![0.0; logits.len()]);
        let base = ssd_loss(&codes, &logits, &targets, slots, kind, &mut dc, &mut dl);
        assert_eq!(base.positives, 2);
        let eps = 1e-3;
        let loss_at = |c: &[f32], l: &[f32]| {
            let (mut a, mut b) = (vec![0.0; c.len()], vec![0.0; l.len()]);
            ssd_loss(c, l, &targets, slots, kind, &mut a, &mut b).total()
        };
        for i in 0..codes.len() {
            let (mut p, mut m) = (codes.clone(), codes.clone());
            p[i] += eps;
            m[i] -= eps;
            let num = (loss_at(&p, &logits) - loss_at(&m, &logits)) / (2.0 * eps);
            assert!((num - dc[i]).abs() < 2e-3, "code {i}: {num} vs {}", dc[i]);
        }
        for i in 0..logits.len() {
            let (mut p, mut m) = (logits.clone(), logits.clone());
            p[i] += eps;
            m[i] -= eps;
            let num = (loss_at(&codes, &p) - loss_at(&codes, &m)) / (2.0 * eps);
            assert!((num - dl[i]).abs() < 2e-3, "logit {i}: {num} vs {}", dl[i]);
        }
    }

    #[test]
    fn mined_gradients_match_finite_differences() {
        numeric_check(ClassLoss::default());
    }

    #[test]
    fn focal_gradients_match_finite_differences() {
        numeric_check(ClassLoss::Focal { alpha: 0.25, gamma: 2.0 });
    }

    #[test]
    fn mining_keeps_three_negatives_per_positive() {
        // One positive among 10 anchors: 3 negatives (the most confident wrong ones) get gradient.
        let (anchors, slots) = (10, 2);
        let mut targets = vec![vec![None; anchors]];
        targets[0][0] = Some((1, [0.0; 4]));
        let logits: Vec<f32> = (0..anchors).flat_map(|a| [0.0, a as f32 - 5.0]).collect();
        let (mut dc, mut dl) = (vec![0.0; anchors * 4], vec![0.0; anchors * slots]);
        ssd_loss(&vec![0.0; anchors * 4], &logits, &targets, slots, ClassLoss::default(), &mut dc, &mut dl);
        let touched: Vec<usize> = (0..anchors).filter(|&a| dl[a * 2] != 0.0 || dl[a * 2 + 1] != 0.0).collect();
        assert_eq!(touched, [0, 7, 8, 9]);
        // By hand: BCE of the positive's two columns, logits (0, -5), targets (0, 1).
        let want_pos = bce(0.0, 0.0) + bce(-5.0, 1.0);
        let got = ssd_loss(
            &[0.0; 4],
            &logits[..2],
            &[vec![Some((1, [0.0; 4]))]],
            2,
            ClassLoss::default(),
            &mut [0.0; 4],
            &mut [0.0; 2],
        );
        assert!((got.classification - want_pos).abs() < 1e-6);
        assert!((want_pos - (2f32.ln() + 5.0 + (-5f32).exp().ln_1p())).abs() < 1e-6);
    }
}
