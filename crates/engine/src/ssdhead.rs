//! SSDLite's head in float32: four extra layers on the 1280-channel map, then a box and a class
//! predictor (3x3 depthwise + ReLU6, 1x1 conv) on each of the six feature maps. Outputs per image:
//! every anchor's four box codes, then every anchor's class logits, anchors in the Object
//! Detection API's order (map, row, column, anchor).

use mnv2_arch::{SsdLayer, SsdLite};
use mnv2_kernels::dwconv::{DwLayer, DwShape};
use mnv2_kernels::gemm::PackedB;
use mnv2_kernels::{Clamp, Padding};

use crate::EngineError;
use crate::model::{ConvWeights, SsdWeights};

pub(crate) struct Extra {
    pub reduce: PackedB,
    pub depthwise: DwLayer,
    pub expand: PackedB,
}

pub(crate) struct Predictor {
    pub box_depthwise: DwLayer,
    pub box_conv: PackedB,
    pub class_depthwise: DwLayer,
    pub class_conv: PackedB,
}

pub(crate) struct SsdHead {
    /// Feature maps (height, width, channels), the six of them.
    pub maps: Vec<(usize, usize, usize)>,
    pub extras: Vec<Extra>,
    pub predictors: Vec<Predictor>,
    pub anchors: usize,
    /// Class slots (background included).
    pub classes: usize,
}

fn depthwise(w: &ConvWeights, map: (usize, usize, usize), stride: usize) -> Result<DwLayer, EngineError> {
    let (h, wd, c) = map;
    // SSDLite's heads come from TensorFlow: "same" padding.
    let shape = DwShape { in_h: h, in_w: wd, channels: c, stride, dilation: 1, padding: Padding::Same };
    Ok(DwLayer { shape, w: w.weights.dequantize()?, bias: w.bias.dequantize()?, clamp: Clamp::RELU6 })
}

impl SsdHead {
    pub fn new(
        ssd: &SsdLite,
        w: &SsdWeights,
        pack: impl Fn(&ConvWeights) -> Result<PackedB, EngineError>,
    ) -> Result<SsdHead, EngineError> {
        let maps: Vec<_> = ssd.feature_maps().iter().map(|m| (m.h as usize, m.w as usize, m.c as usize)).collect();
        let mut extras = Vec::new();
        for (i, (layer, ew)) in
            ssd.head_layers().iter().filter(|l| matches!(l, SsdLayer::Extra { .. })).zip(&w.extras).enumerate()
        {
            let SsdLayer::Extra { input, depth } = *layer else { unreachable!() };
            let half = (input.h as usize, input.w as usize, depth as usize / 2);
            let e = Extra {
                reduce: pack(&ew.reduce)?,
                depthwise: depthwise(&ew.depthwise, half, 2)?,
                expand: pack(&ew.expand)?,
            };
            debug_assert_eq!(e.depthwise.shape.out_len() / half.2 * e.expand.n(), {
                let m = maps[i + 2];
                m.0 * m.1 * m.2
            });
            extras.push(e);
        }
        let mut predictors = Vec::new();
        for (map, pw) in maps.iter().zip(&w.predictors) {
            predictors.push(Predictor {
                box_depthwise: depthwise(&pw.box_depthwise, *map, 1)?,
                box_conv: pack(&pw.box_conv)?,
                class_depthwise: depthwise(&pw.class_depthwise, *map, 1)?,
                class_conv: pack(&pw.class_conv)?,
            });
        }
        Ok(SsdHead {
            maps,
            extras,
            predictors,
            anchors: ssd.anchors() as usize,
            classes: ssd.backbone.classes as usize,
        })
    }

    fn map_len(&self, i: usize) -> usize {
        let (h, w, c) = self.maps[i];
        h * w * c
    }

    /// Output floats per image: box codes then class logits.
    pub fn output_len(&self) -> usize {
        self.anchors * (4 + self.classes)
    }

    /// Floats of the largest reduced (half-depth) map an extra layer makes.
    pub fn reduced_len(&self) -> usize {
        self.extras.iter().map(|e| e.depthwise.shape.in_h * e.depthwise.shape.in_w * e.reduce.n()).max().unwrap_or(0)
    }

    /// Scratch floats per image: the four extra maps, one reduced map and one depthwise output.
    pub fn scratch(&self) -> usize {
        let extra_maps: usize = (2..self.maps.len()).map(|i| self.map_len(i)).sum();
        let dw = self.extras.iter().map(|e| e.depthwise.shape.out_len());
        let pred = self.predictors.iter().map(|p| p.box_depthwise.shape.out_len());
        extra_maps + self.reduced_len() + dw.chain(pred).max().unwrap_or(0)
    }
}
