//! Paper Table 2 and the channel-rounding rule of the TF-slim release.

/// One row of Table 2: `n` layers of expansion `t` and `c` output channels, the first of stride `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub t: u32,
    pub c: u32,
    pub n: u32,
    pub s: u32,
}

/// Output channels of the 3x3 stem conv before the width multiplier.
pub const STEM_CHANNELS: u32 = 32;

/// The bottleneck rows of paper Table 2.
pub const TABLE_2: [Stage; 7] = [
    Stage { t: 1, c: 16, n: 1, s: 1 },
    Stage { t: 6, c: 24, n: 2, s: 2 },
    Stage { t: 6, c: 32, n: 3, s: 2 },
    Stage { t: 6, c: 64, n: 4, s: 2 },
    Stage { t: 6, c: 96, n: 3, s: 1 },
    Stage { t: 6, c: 160, n: 3, s: 2 },
    Stage { t: 6, c: 320, n: 1, s: 1 },
];

/// Rounds `v` to the nearest multiple of `divisor`, never below `divisor`, adding one more
/// `divisor` when rounding down lost more than 10% (TF-slim's `_make_divisible`).
pub fn make_divisible(v: f32, divisor: u32) -> u32 {
    make_divisible_min(v, divisor, divisor)
}

/// [`make_divisible`] with an explicit floor (TF-slim's `min_depth`).
pub fn make_divisible_min(v: f32, divisor: u32, min: u32) -> u32 {
    let d = divisor as f32;
    let rounded = (((v + d / 2.0) / d).floor() * d).max(min as f32);
    let rounded = if rounded < 0.9 * v { rounded + d } else { rounded };
    rounded as u32
}

/// Channels of the last 1x1 conv: 1280, kept for width <= 1, scaled above.
pub fn head_channels(width: f32) -> u32 {
    if width > 1.0 { make_divisible(1280.0 * width, 8) } else { 1280 }
}
