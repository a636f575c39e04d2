//! Every variant against the reference, on many shapes, windows and rings.

use super::*;
use crate::Padding;
use crate::q8::Requant;
use crate::testutil::{Rng, padding_for, quant_weights, rounding};

#[test]
fn matches_reference_exactly() {
    let mut seed = 50;
    for isa in Isa::all_available() {
        for (h, w) in [(1, 1), (3, 2), (7, 7), (9, 8), (12, 21), (3, 70), (2, 131)] {
            for channels in [1, 8, 16, 17, 48, 63, 64, 65, 80, 130, 144] {
                for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let shape = DwShape { in_h: h, in_w: w, channels, stride, dilation, padding: padding_for(seed) };
                    // int8, uint8 and wider weights in turn (VNNI takes the first two).
                    let layer = QDwLayer::new(
                        isa,
                        shape,
                        quant_weights(&mut rng, 9 * channels, seed),
                        (0..channels).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect(),
                        (rng.next_u64() % 256) as i32,
                        RequantVec::new(
                            &(0..channels)
                                .map(|_| {
                                    Requant::with_rounding(0.001 + (rng.next_u64() % 100) as f64 * 1e-4, rounding(seed))
                                })
                                .collect::<Vec<_>>(),
                        ),
                        OutputStage::new((rng.next_u64() % 256) as i32, 0.03, seed % 2 == 1),
                    );
                    let input: Vec<u8> = (0..h * w * channels).map(|_| rng.next_u64() as u8).collect();
                    let (_, oh, _, _) = shape.geometry();
                    let mut out = vec![0u8; shape.out_len()];
                    qdwconv3x3(isa, &layer, &input, 0..oh, &mut out);
                    assert_eq!(out, qdwconv3x3_reference(&layer, &input), "{isa:?} {shape:?}");
                }
            }
        }
    }
}

#[test]
fn rings_of_rows_give_the_same_bytes() {
    // Row iy in slot iy % slots (one slot more than two output rows read: they wrap).
    let mut seed = 500;
    for isa in Isa::all_available() {
        for channels in [16, 72, 80] {
            for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                seed += 1;
                let mut rng = Rng::new(seed);
                let shape = DwShape { in_h: 11, in_w: 9, channels, stride, dilation, padding: Padding::Same };
                let row_len = 9 * channels;
                let layer = QDwLayer::new(
                    isa,
                    shape,
                    quant_weights(&mut rng, 9 * channels, seed),
                    (0..channels).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect(),
                    (rng.next_u64() % 256) as i32,
                    RequantVec::new(&vec![Requant::with_rounding(0.004, rounding(seed)); channels]),
                    OutputStage::new((rng.next_u64() % 256) as i32, 0.03, true),
                );
                let input: Vec<u8> = (0..11 * row_len).map(|_| rng.next_u64() as u8).collect();
                let (_, oh, _, ow) = shape.geometry();
                let mut whole = vec![0u8; shape.out_len()];
                qdwconv3x3(isa, &layer, &input, 0..oh, &mut whole);
                let slots = stride + 2 * dilation + 2;
                for oy in 0..oh - 1 {
                    let band = oy..oy + 2;
                    let (first, last) = shape.input_rows(&band);
                    let mut ring = vec![0u8; slots * row_len];
                    for iy in first..=last {
                        ring[iy % slots * row_len..][..row_len].copy_from_slice(&input[iy * row_len..][..row_len]);
                    }
                    let mut two = vec![0u8; 2 * ow * channels];
                    qdwconv3x3_ring(isa, &layer, &ring, band, &mut two);
                    assert_eq!(two, whole[oy * ow * channels..][..two.len()], "{isa:?} {shape:?} row {oy}");
                }
            }
        }
    }
}
