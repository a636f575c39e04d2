//! The weight gradient as the textbook loop.

/// `dw[o][i] += sum_p dy[p][o] * x[p][i]`, pixel by pixel.
pub fn weight_grad_reference(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    for (d, xr) in dy.chunks_exact(cout).zip(x.chunks_exact(cin)) {
        for (o, &g) in d.iter().enumerate() {
            for (i, &v) in xr.iter().enumerate() {
                dw[o * cin + i] += g * v;
            }
        }
    }
}
