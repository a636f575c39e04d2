//! Numerically stable softmax over each row.

/// Replaces each row of `n` logits by its probabilities.
pub fn softmax_in_place(values: &mut [f32], n: usize) {
    for row in values.chunks_exact_mut(n) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f64;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v as f64;
        }
        let inv = (1.0 / sum) as f32;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn by_hand() {
        let mut v = [0.0, (2.0f32).ln(), 0.0, 0.0];
        super::softmax_in_place(&mut v, 2);
        assert!((v[0] - 1.0 / 3.0).abs() < 1e-6 && (v[1] - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(v[2..], [0.5, 0.5]);
    }
}
