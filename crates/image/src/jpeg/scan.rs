//! The scan's entropy-coded data, an MCU row at a time: restart intervals, the DC predictions and
//! each component's blocks in MCU order.

use super::BLOCK;
use super::headers::Frame;
use super::huffman::{Bits, Huffman};
use mnv2_kernels::Isa;

/// Where the decoding of a scan stands.
pub(super) struct Scan<'a> {
    bits: Bits<'a>,
    /// Each component's DC and AC tables.
    tables: Vec<(&'a Huffman, &'a Huffman)>,
    /// Each component's DC prediction.
    pred: Vec<i32>,
    /// MCUs decoded so far.
    mcu: usize,
    /// Where each restart interval after the first begins in the data.
    restarts: std::slice::Iter<'a, usize>,
    /// The CPU has BMI2 (with the AVX2 level): the bit reader's shifts by a register count
    /// take one instruction instead of three on Intel (`shlx` rather than `shl cl`).
    bmi2: bool,
}

impl<'a> Scan<'a> {
    /// The scan of `frame` over its unstuffed `data` with restart offsets `restarts`, or None
    /// when a component's table is missing.
    pub(super) fn new(frame: &'a Frame, data: &'a [u8], restarts: &'a [usize], isa: Isa) -> Option<Scan<'a>> {
        let tables = frame
            .components
            .iter()
            .map(|c| Some((frame.dc[c.dc].as_ref()?, frame.ac[c.ac].as_ref()?)))
            .collect::<Option<_>>()?;
        Some(Scan {
            bits: Bits::new(data),
            tables,
            pred: vec![0; frame.components.len()],
            mcu: 0,
            restarts: restarts.iter(),
            bmi2: isa.has(Isa::Avx2),
        })
    }

    /// The next MCU row's blocks: per component, `v` rows of `mcu_cols * h` blocks, which must be
    /// zero on entry. None when a restart marker the interval asks for is missing.
    pub(super) fn mcu_row(&mut self, frame: &Frame, blocks: &mut [Vec<[i32; BLOCK]>]) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if self.bmi2 {
            // SAFETY: `bmi2` is set only where the CPU has the AVX2 level, which includes BMI1
            // and BMI2.
            return unsafe { self.mcu_row_bmi2(frame, blocks) };
        }
        self.mcu_row_portable(frame, blocks)
    }

    /// [`Scan::mcu_row`] compiled for BMI1 and BMI2.
    ///
    /// # Safety
    /// The CPU must have BMI1 and BMI2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi1,bmi2")]
    unsafe fn mcu_row_bmi2(&mut self, frame: &Frame, blocks: &mut [Vec<[i32; BLOCK]>]) -> Option<()> {
        self.mcu_row_portable(frame, blocks)
    }

    #[inline(always)]
    fn mcu_row_portable(&mut self, frame: &Frame, blocks: &mut [Vec<[i32; BLOCK]>]) -> Option<()> {
        let comps = &frame.components;
        let mcu_cols = frame.width.div_ceil(8 * comps[0].h);
        for mx in 0..mcu_cols {
            if frame.restart_interval > 0 && self.mcu > 0 && self.mcu.is_multiple_of(frame.restart_interval) {
                self.bits.restart_at(*self.restarts.next()?);
                self.pred.fill(0);
            }
            for (ci, c) in comps.iter().enumerate() {
                let (dc, ac) = self.tables[ci];
                let row_blocks = mcu_cols * c.h;
                for by in 0..c.v {
                    for bx in 0..c.h {
                        let block = &mut blocks[ci][by * row_blocks + mx * c.h + bx];
                        self.bits.block(dc, ac, &c.quant, &mut self.pred[ci], block);
                    }
                }
            }
            self.mcu += 1;
        }
        Some(())
    }
}
