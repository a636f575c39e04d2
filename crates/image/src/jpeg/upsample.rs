//! libjpeg's "fancy" chroma upsampling (jdsample.c): each output sample is 3/4 of the nearer
//! input sample and 1/4 of the farther one, horizontally (4:2:2) or in both directions
//! (4:2:0), with libjpeg's alternating rounding so the bytes match.

/// 4:2:2: `out` gets `2 * row.len()` samples (`row.len() >= 2`).
pub(super) fn h2v1(row: &[u8], out: &mut [u8]) {
    let n = row.len();
    let at = |i: usize| row[i] as u16;
    out[0] = row[0];
    out[1] = ((at(0) * 3 + at(1) + 2) >> 2) as u8;
    for i in 1..n - 1 {
        let v = at(i) * 3;
        out[2 * i] = ((v + at(i - 1) + 1) >> 2) as u8;
        out[2 * i + 1] = ((v + at(i + 1) + 2) >> 2) as u8;
    }
    out[2 * n - 2] = ((at(n - 1) * 3 + at(n - 2) + 1) >> 2) as u8;
    out[2 * n - 1] = row[n - 1];
}

/// 4:2:0: one output row from its nearer input row and the farther one (the row above for an
/// even output row, below for an odd one; the caller repeats the edge rows); `bias` is 8 for
/// even positions, 7 for odd ones, as libjpeg rounds. `out` gets `2 * near.len()` samples.
pub(super) fn h2v2(near: &[u8], far: &[u8], out: &mut [u8]) {
    let n = near.len();
    let col = |i: usize| near[i] as u16 * 3 + far[i] as u16;
    let (mut this, mut next) = (col(0), col(1));
    out[0] = ((this * 4 + 8) >> 4) as u8;
    out[1] = ((this * 3 + next + 7) >> 4) as u8;
    let mut last = this;
    this = next;
    for i in 1..n - 1 {
        next = col(i + 1);
        out[2 * i] = ((this * 3 + last + 8) >> 4) as u8;
        out[2 * i + 1] = ((this * 3 + next + 7) >> 4) as u8;
        last = this;
        this = next;
    }
    out[2 * n - 2] = ((this * 3 + last + 8) >> 4) as u8;
    out[2 * n - 1] = ((this * 4 + 7) >> 4) as u8;
}
