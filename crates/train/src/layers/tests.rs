//! Every backward pass against central finite differences of its forward pass.

use super::*;

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// Checks `grad` against d(sum(f(x) * r))/dx by central differences on a few coordinates.
fn check(name: &str, x: &[f32], grad: &[f32], mut f: impl FnMut(&[f32]) -> f64) {
    let eps = 1e-2f32;
    let step = (x.len() / 23).max(1);
    for i in (0..x.len()).step_by(step) {
        let mut xp = x.to_vec();
        xp[i] += eps;
        let mut xm = x.to_vec();
        xm[i] -= eps;
        let num = (f(&xp) - f(&xm)) / (2.0 * eps as f64);
        let err = (num - grad[i] as f64).abs();
        assert!(err <= 2e-2 * (1.0 + num.abs()), "{name}[{i}]: analytic {} vs numeric {num}", grad[i]);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

#[test]
fn conv_and_depthwise_gradients() {
    let mut rng = Rng(0x1234_5678_9abc);
    for (k, stride, pad, dilation, tf_same) in
        [(3, 2, 1, 1, false), (3, 1, 1, 1, false), (3, 1, 2, 2, false), (1, 1, 0, 1, false), (3, 2, 0, 1, true)]
    {
        let g = ConvGeom { n: 2, h: 5, w: 6, cin: 3, cout: 4, k, stride, pad, dilation, tf_same };
        let (x, w) = (rng.vec(2 * 5 * 6 * 3), rng.vec(4 * k * k * 3));
        let r = rng.vec(g.out_len());
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        conv_backward(Some(&mut dx), &mut dw, &r, &x, &w, &g);
        let mut y = vec![0.0; g.out_len()];
        check("conv dx", &x, &dx, |xx| {
            conv_forward(&mut y, xx, &w, &g);
            dot(&y, &r)
        });
        check("conv dw", &w, &dw, |ww| {
            conv_forward(&mut y, &x, ww, &g);
            dot(&y, &r)
        });
        let dg = ConvGeom { cout: 3, ..g };
        let wd = rng.vec(k * k * 3);
        let r = rng.vec(dg.out_len());
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; wd.len()]);
        dw_backward(&mut dx, &mut dw, &r, &x, &wd, &dg);
        let mut y = vec![0.0; dg.out_len()];
        check("dw dx", &x, &dx, |xx| {
            dw_forward(&mut y, xx, &wd, &dg);
            dot(&y, &r)
        });
        check("dw dw", &wd, &dw, |ww| {
            dw_forward(&mut y, &x, ww, &dg);
            dot(&y, &r)
        });
    }
}

#[test]
fn pointwise_batchnorm_relu6_pool_gradients() {
    let mut rng = Rng(99);
    let (p, cin, cout) = (7, 5, 3);
    let (x, w, r) = (rng.vec(p * cin), rng.vec(cout * cin), rng.vec(p * cout));
    let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
    pointwise_backward(&mut dx, &mut dw, &r, &x, &w, cin, cout);
    let mut y = vec![0.0; p * cout];
    check("pw dx", &x, &dx, |xx| {
        pointwise_forward(&mut y, xx, &w, cin, cout);
        dot(&y, &r)
    });
    check("pw dw", &w, &dw, |ww| {
        pointwise_forward(&mut y, &x, ww, cin, cout);
        dot(&y, &r)
    });
    // Batch norm (training mode).
    let c = 3;
    let (x, gamma, beta, r) = (rng.vec(8 * c), rng.vec(c), rng.vec(c), rng.vec(8 * c));
    let mut y = vec![0.0; x.len()];
    let cache = bn_train_forward(&mut y, &x, &gamma, &beta, c);
    let (mut dx, mut dg, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    bn_train_backward(&mut dx, &mut dg, &mut db, &r, &cache, (&gamma, &beta), false, &crate::replicas::Alone);
    check("bn dx", &x, &dx, |xx| {
        bn_train_forward(&mut y, xx, &gamma, &beta, c);
        dot(&y, &r)
    });
    check("bn dgamma", &gamma, &dg, |gg| {
        bn_train_forward(&mut y, &x, gg, &beta, c);
        dot(&y, &r)
    });
    check("bn dbeta", &beta, &db, |bb| {
        bn_train_forward(&mut y, &x, &gamma, bb, c);
        dot(&y, &r)
    });
    // ReLU6 away from its kinks, and average pooling.
    let x: Vec<f32> = [-1.0, 0.5, 3.0, 5.5, 7.0, 2.0].into();
    let r = rng.vec(6);
    let mut d = r.clone();
    relu6_backward(&mut d, &x);
    check("relu6", &x, &d, |xx| {
        let mut y = xx.to_vec();
        relu6_forward(&mut y);
        dot(&y, &r)
    });
    let x = rng.vec(2 * 4 * 3);
    let r = rng.vec(2 * 3);
    let mut dx = vec![0.0; x.len()];
    avgpool_backward(&mut dx, &r, 2, 3);
    let mut y = vec![0.0; 6];
    check("avgpool", &x, &dx, |xx| {
        avgpool_forward(&mut y, xx, 2, 3);
        dot(&y, &r)
    });
}

/// Batch norm with ReLU6 in its passes, forward and backward, against the two one after the
/// other: the same bits (values spread so that some land below 0, inside and above 6).
#[test]
fn batchnorm_with_relu6_equals_batchnorm_then_relu6() {
    let mut rng = Rng(7);
    for (pixels, c) in [(50, 3), (1000, 40), (64 * 9, 17)] {
        let x: Vec<f32> = rng.vec(pixels * c).iter().map(|v| v * 5.0).collect();
        let gamma: Vec<f32> = rng.vec(c).iter().map(|v| 4.0 * v).collect();
        let beta: Vec<f32> = rng.vec(c).iter().map(|v| 3.0 + 3.0 * v).collect();
        let r = rng.vec(pixels * c);
        let alone = &crate::replicas::Alone;
        let (mut fused, mut plain) = (x.clone(), x.clone());
        let (mut fc, mut pc) = (BnCache::default(), BnCache::default());
        bn_train_forward_in_place(&mut fc, &mut fused, &gamma, &beta, c, true, alone);
        bn_train_forward_in_place(&mut pc, &mut plain, &gamma, &beta, c, false, alone);
        let pre = plain.clone();
        relu6_forward(&mut plain);
        assert!(fused.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits()), "forward, {pixels} x {c}");
        assert!(fused.contains(&0.0) && fused.contains(&6.0), "the clamp was not exercised");
        let (mut dx_f, mut dg_f, mut db_f) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        bn_train_backward(&mut dx_f, &mut dg_f, &mut db_f, &r, &fc, (&gamma, &beta), true, alone);
        let mut gated = r.clone();
        relu6_backward(&mut gated, &pre);
        let (mut dx_p, mut dg_p, mut db_p) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        bn_train_backward(&mut dx_p, &mut dg_p, &mut db_p, &gated, &pc, (&gamma, &beta), false, alone);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same(&dx_f, &dx_p) && same(&dg_f, &dg_p) && same(&db_f, &db_p), "backward, {pixels} x {c}");
    }
}

/// The depthwise conv as the textbook loops write it: every output pixel, every tap in order.
fn dw_forward_reference(y: &mut [f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    let c = g.cin;
    for n in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = &mut y[((n * oh + oy) * ow + ox) * c..][..c];
                o.fill(0.0);
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        for ch in 0..c {
                            o[ch] += x[((n * g.h + iy) * g.w + ix) * c + ch] * w[(ky * g.k + kx) * c + ch];
                        }
                    }
                }
            }
        }
    }
}

/// Its gradients as the textbook loops write them: every output pixel scatters into the weights'
/// and the input's gradients, tap by tap.
fn dw_backward_reference(dx: &mut [f32], dw: &mut [f32], dy: &[f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    let c = g.cin;
    dx.fill(0.0);
    for n in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        for ch in 0..c {
                            let go = dy[((n * oh + oy) * ow + ox) * c + ch];
                            let i = ((n * g.h + iy) * g.w + ix) * c + ch;
                            dw[(ky * g.k + kx) * c + ch] += go * x[i];
                            dx[i] += go * w[(ky * g.k + kx) * c + ch];
                        }
                    }
                }
            }
        }
    }
}

/// The depthwise loops (vectorised over channels, at every level `widest!` compiles) against the
/// textbook ones, bit for bit, over strides, dilations, both paddings and channel counts.
#[test]
fn depthwise_blocks_equal_the_reference_loops() {
    let mut rng = Rng(0xdead_beef);
    let shapes =
        [(1, 1, 0, false), (2, 1, 1, false), (1, 2, 2, false), (2, 1, 0, true), (1, 1, 0, true), (2, 2, 2, false)];
    for (stride, dilation, pad, tf_same) in shapes {
        for (h, w, c) in [(7, 6, 16), (5, 9, 40), (8, 8, 3), (9, 7, 33), (6, 5, 83), (4, 4, 128)] {
            let pad = if tf_same { 0 } else { pad.max(dilation) };
            let g = ConvGeom { n: 2, h, w, cin: c, cout: c, k: 3, stride, pad, dilation, tf_same };
            let (x, wt, dy) = (rng.vec(2 * h * w * c), rng.vec(9 * c), rng.vec(g.out_len()));
            let (mut y, mut y_ref) = (vec![0.0; g.out_len()], vec![0.0; g.out_len()]);
            dw_forward(&mut y, &x, &wt, &g);
            dw_forward_reference(&mut y_ref, &x, &wt, &g);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y_ref), "forward {g:?}");
            let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; wt.len()]);
            let (mut dx_ref, mut dw_ref) = (vec![0.0; x.len()], vec![0.0; wt.len()]);
            // One image per call, as the training splits its images into ranges.
            let one = ConvGeom { n: 1, ..g };
            let (xl, yl) = (h * w * c, g.out_len() / 2);
            for img in 0..2 {
                let (xi, di) = (&x[img * xl..][..xl], &dy[img * yl..][..yl]);
                dw_backward_one(&mut dx[img * xl..][..xl], &mut dw, di, xi, &wt, &one);
                dw_backward_reference(&mut dx_ref[img * xl..][..xl], &mut dw_ref, di, xi, &wt, &one);
            }
            assert_eq!(bits(&dx), bits(&dx_ref), "input gradient {g:?}");
            assert_eq!(bits(&dw), bits(&dw_ref), "weight gradient {g:?}");
        }
    }
}

/// The full conv: the blocked forward against the textbook loops, and the weight gradient alone
/// (the stem's, row by row in registers) against the one the textbook loop computes beside the
/// input gradient, bit for bit.
#[test]
fn full_conv_blocks_equal_the_textbook_loops() {
    let mut rng = Rng(0x5eed);
    for (stride, pad, tf_same, cin, cout) in
        [(2, 1, false, 3, 32), (1, 1, false, 3, 40), (2, 0, true, 2, 16), (1, 1, false, 4, 7)]
    {
        let g = ConvGeom { n: 2, h: 9, w: 8, cin, cout, k: 3, stride, pad, dilation: 1, tf_same };
        let (x, w, dy) = (rng.vec(2 * 9 * 8 * cin), rng.vec(cout * 9 * cin), rng.vec(g.out_len()));
        let mut y = vec![0.0; g.out_len()];
        conv_forward(&mut y, &x, &w, &g);
        let (oh, ow) = g.out_hw();
        let mut y_ref = vec![0.0f32; g.out_len()];
        for n in 0..2 {
            for (oy, ox, o) in (0..oh)
                .flat_map(|oy| (0..ow).map(move |ox| (oy, ox)))
                .flat_map(|(oy, ox)| (0..cout).map(move |o| (oy, ox, o)))
            {
                let mut acc = 0.0f32;
                for ky in 0..3 {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..3 {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        for i in 0..cin {
                            acc += x[((n * g.h + iy) * g.w + ix) * cin + i] * w[((o * 3 + ky) * 3 + kx) * cin + i];
                        }
                    }
                }
                y_ref[((n * oh + oy) * ow + ox) * cout + o] = acc;
            }
        }
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&y), bits(&y_ref), "forward {g:?}");
        let (mut dw_alone, mut dw_with_dx, mut dx) = (vec![0.0; w.len()], vec![0.0; w.len()], vec![0.0; x.len()]);
        conv_backward(None, &mut dw_alone, &dy, &x, &w, &g);
        conv_backward(Some(&mut dx), &mut dw_with_dx, &dy, &x, &w, &g);
        assert_eq!(bits(&dw_alone), bits(&dw_with_dx), "weight gradient {g:?}");
    }
}
