//! Softmax cross-entropy with label smoothing, averaged over the batch.

/// Returns the mean loss and writes dLoss/dlogits. Target distribution: `1 - smoothing` on the
/// label plus `smoothing / classes` everywhere (PyTorch's `label_smoothing`).
pub fn cross_entropy(logits: &[f32], labels: &[usize], classes: usize, smoothing: f32, dlogits: &mut [f32]) -> f32 {
    cross_entropy_part(logits, labels, classes, smoothing, labels.len(), dlogits)
}

/// [`cross_entropy`] of examples that are part of a batch of `whole` (split across processes):
/// the gradient is that of the whole batch's mean loss; the loss returned is the mean over these
/// examples.
pub fn cross_entropy_part(
    logits: &[f32],
    labels: &[usize],
    classes: usize,
    smoothing: f32,
    whole: usize,
    dlogits: &mut [f32],
) -> f32 {
    let n = labels.len();
    assert!(logits.len() == n * classes && dlogits.len() == logits.len());
    let mut total = 0f64;
    for (i, &y) in labels.iter().enumerate() {
        let row = &logits[i * classes..(i + 1) * classes];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        let log_sum = sum.ln() + max as f64;
        for (k, &v) in row.iter().enumerate() {
            let q = smoothing as f64 / classes as f64 + if k == y { 1.0 - smoothing as f64 } else { 0.0 };
            let log_p = v as f64 - log_sum;
            total -= q * log_p;
            dlogits[i * classes + k] = ((log_p.exp() - q) / whole as f64) as f32;
        }
    }
    (total / n as f64) as f32
}

#[cfg(test)]
mod tests {
    #[test]
    fn uniform_logits_by_hand() {
        // Two classes, equal logits: p = 1/2; the loss is ln 2 whatever the smoothing.
        let mut d = [0.0; 2];
        let l = super::cross_entropy(&[0.0, 0.0], &[0], 2, 0.1, &mut d);
        assert!((l - 2f32.ln()).abs() < 1e-6);
        // q = (0.95, 0.05): gradient p - q = (-0.45, 0.45)
        assert!((d[0] + 0.45).abs() < 1e-6 && (d[1] - 0.45).abs() < 1e-6);
    }
}
