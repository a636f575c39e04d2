//! The textbook triple loop the fast GEMM is tested against.

use crate::Clamp;

/// `out[m][n] = clamp(bias[n] + sum_k a[m][k] w[k][n] + residual[m][n])` for `a` m x k and `w`
/// row-major k x n (n = bias length).
pub fn gemm_reference(
    a: &[f32],
    m: usize,
    w: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    clamp: Clamp,
) -> Vec<f32> {
    let n = bias.len();
    let k = a.len() / m.max(1);
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias[j] as f64;
            for kk in 0..k {
                s += a[i * k + kk] as f64 * w[kk * n + j] as f64;
            }
            if let Some(r) = residual {
                s += r[i * n + j] as f64;
            }
            out[i * n + j] = clamp.apply(s as f32);
        }
    }
    out
}
