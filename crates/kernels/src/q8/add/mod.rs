//! Quantized residual add (TFLite `ADD` for uint8/int8): both inputs are rescaled to a common
//! scale with 20 bits of headroom, summed, and rescaled to the output.

use super::{OutputStage, Requant};

/// Parameters of one quantized add, prepared as TFLite's `Prepare` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QAdd {
    pub zero_point_1: i32,
    pub zero_point_2: i32,
    pub input_1: Requant,
    pub input_2: Requant,
    pub output: Requant,
    pub stage: OutputStage,
    /// Each input byte's rescaled value (`rescaled_1`, `rescaled_2`: 256 i32 each) as four byte
    /// planes per input, `[input][byte j][value]`: a byte input has 256 values, so its rescaling
    /// is a table (looked up 64 at a time with `vpermt2b`).
    planes: Vec<u8>,
}

const LEFT_SHIFT: i32 = 20;

impl QAdd {
    /// From the two inputs' and the output's scale and (u8-representation) zero point.
    pub fn new(scale_1: f32, zp_1: i32, scale_2: f32, zp_2: i32, scale_out: f32, stage: OutputStage) -> QAdd {
        // As add.cc: twice the larger input scale (in float), ratios in double, and the output
        // multiplier over (1 << 20) * output_scale computed in float.
        let twice_max = (2.0 * scale_1.max(scale_2)) as f64;
        let real_1 = scale_1 as f64 / twice_max;
        let real_2 = scale_2 as f64 / twice_max;
        let real_out = twice_max / ((1 << LEFT_SHIFT) as f32 * scale_out) as f64;
        let mut p = QAdd {
            zero_point_1: zp_1,
            zero_point_2: zp_2,
            input_1: Requant::new(real_1),
            input_2: Requant::new(real_2),
            output: Requant::new(real_out),
            stage,
            planes: vec![0; 2 * 4 * 256],
        };
        for v in 0..256 {
            for (input, value) in [p.rescaled_1(v as u8), p.rescaled_2(v as u8)].into_iter().enumerate() {
                for (j, byte) in value.to_le_bytes().into_iter().enumerate() {
                    p.planes[(input * 4 + j) * 256 + v] = byte;
                }
            }
        }
        p
    }

    /// Input 1 at the common scale: `(a - zp_1) << 20` rescaled.
    #[inline(always)]
    pub fn rescaled_1(&self, a: u8) -> i32 {
        self.input_1.apply((a as i32 - self.zero_point_1) * (1 << LEFT_SHIFT))
    }
    #[inline(always)]
    pub fn rescaled_2(&self, b: u8) -> i32 {
        self.input_2.apply((b as i32 - self.zero_point_2) * (1 << LEFT_SHIFT))
    }

    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        self.stage.finish(self.output.apply(self.rescaled_1(a) + self.rescaled_2(b)))
    }
}

/// The levels the int8 add has its own code for (AVX2 and AVX-512: requantized in registers;
/// VNNI level: by `vpermb` tables).
pub const VARIANTS: [crate::Isa; 4] =
    [crate::Isa::Scalar, crate::Isa::Avx2, crate::Isa::Avx512, crate::Isa::Avx512Vnni];

/// `out[i] = add(a[i], out[i])` (the residual added into the block's output).
pub fn qadd_in_place(isa: crate::Isa, p: &QAdd, a: &[u8], out: &mut [u8]) {
    assert_eq!(a.len(), out.len(), "add operand sizes");
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 paths only
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx512Vnni) {
        // SAFETY: AVX-512F/BW/VBMI (part of the level, which the CPU has); both slices hold out.len() bytes.
        done = unsafe { avx512::add_in_place_tables(p, a, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx512) {
        // SAFETY: AVX-512F/BW (the level, which the CPU has); both slices hold out.len() bytes.
        done += unsafe { avx512::add_in_place(p, &a[done..], &mut out[done..]) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx2) {
        // SAFETY: AVX2 (the level, which the CPU has); both slices hold out.len() bytes.
        done += unsafe { avx2::add_in_place(p, &a[done..], &mut out[done..]) };
    }
    let _ = isa;
    for (o, &x) in out[done..].iter_mut().zip(&a[done..]) {
        *o = p.apply(x, *o);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// `out[i] = add(a[i], b[i])`.
pub fn qadd(p: &QAdd, a: &[u8], b: &[u8], out: &mut [u8]) {
    assert!(a.len() == out.len() && b.len() == out.len(), "add operand sizes");
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = p.apply(x, y);
    }
}

#[cfg(test)]
mod tests;
