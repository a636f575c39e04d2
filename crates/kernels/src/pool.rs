//! Global average pooling over an NHWC image.

/// `out[c] = mean over pixels of input[p][c]`, summed in pixel order.
pub fn global_avg_pool(input: &[f32], channels: usize, out: &mut [f32]) {
    assert!(channels > 0 && input.len().is_multiple_of(channels) && out.len() == channels, "pool shapes");
    let pixels = input.len() / channels;
    out.fill(0.0);
    for px in input.chunks_exact(channels) {
        for (o, &v) in out.iter_mut().zip(px) {
            *o += v;
        }
    }
    let n = pixels as f32;
    for o in out.iter_mut() {
        *o /= n;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn averages_by_hand() {
        // Two pixels, two channels: means (1+3)/2 and (2+6)/2.
        let mut out = [0.0; 2];
        super::global_avg_pool(&[1.0, 2.0, 3.0, 6.0], 2, &mut out);
        assert_eq!(out, [2.0, 4.0]);
    }
}
