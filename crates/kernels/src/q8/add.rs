//! Quantized residual add (TFLite `ADD` for uint8/int8): both inputs are rescaled to a common
//! scale with 20 bits of headroom, summed, and rescaled to the output.

use super::{OutputStage, Requant};

/// Parameters of one quantized add, prepared as TFLite's `Prepare` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QAdd {
    pub zero_point_1: i32,
    pub zero_point_2: i32,
    pub input_1: Requant,
    pub input_2: Requant,
    pub output: Requant,
    pub stage: OutputStage,
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
        QAdd {
            zero_point_1: zp_1,
            zero_point_2: zp_2,
            input_1: Requant::new(real_1),
            input_2: Requant::new(real_2),
            output: Requant::new(real_out),
            stage,
        }
    }

    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        let x1 = (a as i32 - self.zero_point_1) * (1 << LEFT_SHIFT);
        let x2 = (b as i32 - self.zero_point_2) * (1 << LEFT_SHIFT);
        let sum = self.input_1.apply(x1) + self.input_2.apply(x2);
        self.stage.finish(self.output.apply(sum))
    }
}

/// `out[i] = add(a[i], b[i])`.
pub fn qadd(p: &QAdd, a: &[u8], b: &[u8], out: &mut [u8]) {
    assert!(a.len() == out.len() && b.len() == out.len(), "add operand sizes");
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = p.apply(x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_scales_add_reals() {
        // Both inputs and output at scale 0.1, zero point 10: reals 1.0 + 2.0 = 3.0 -> q 40.
        let p = QAdd::new(0.1, 10, 0.1, 10, 0.1, OutputStage::new(10, 0.1, false));
        assert_eq!(p.apply(20, 30), 40);
        // Output at twice the scale: 3.0 / 0.2 = 15 -> q 25.
        let p = QAdd::new(0.1, 10, 0.1, 10, 0.2, OutputStage::new(10, 0.2, false));
        assert_eq!(p.apply(20, 30), 25);
        // Saturates at the top of the range.
        assert_eq!(p.apply(255, 255), 255);
    }
}
