//! SSDLite (paper section 6.2) on MobileNetV2 as data: the feature maps (block 14's expansion at
//! output stride 16 and the 1280-channel conv), four extra layers, and depthwise-separable box and
//! class predictors on all six maps, with the anchor count of each (the Object Detection API's
//! `ssdlite_mobilenet_v2_coco` configuration, `../shared/docs/heads.md`).

use crate::{Arch, ArchError, Layer, Shape, make_divisible};

/// Depths of the four extra feature layers.
pub const EXTRA_DEPTHS: [u32; 4] = [512, 256, 256, 128];
/// Anchors per location on each of the six maps (the first map drops to three).
pub const ANCHORS_PER_LAYER: [u32; 6] = [3, 6, 6, 6, 6, 6];

/// A detector: the backbone and the head. `backbone.classes` counts the background class too.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SsdLite {
    pub backbone: Arch,
}

/// A layer of the SSDLite head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SsdLayer {
    /// 1x1 conv to half depth, 3x3 depthwise stride 2, 1x1 conv to depth (each BN + ReLU6).
    Extra { input: Shape, depth: u32 },
    /// On one feature map: 3x3 depthwise (BN, ReLU6) then a 1x1 conv with bias to `outputs`.
    Predictor { map: Shape, outputs: u32, boxes: bool },
}

impl SsdLayer {
    pub fn weight_params(&self) -> u64 {
        match *self {
            SsdLayer::Extra { input, depth } => {
                input.c as u64 * (depth / 2) as u64 + 9 * (depth / 2) as u64 + (depth / 2) as u64 * depth as u64
            }
            SsdLayer::Predictor { map, outputs, .. } => 9 * map.c as u64 + map.c as u64 * outputs as u64,
        }
    }
    pub fn macs(&self) -> u64 {
        match *self {
            SsdLayer::Extra { input, depth } => {
                let half = (depth / 2) as u64;
                let out = (input.h.div_ceil(2) * input.w.div_ceil(2)) as u64;
                (input.h * input.w) as u64 * input.c as u64 * half + out * 9 * half + out * half * depth as u64
            }
            SsdLayer::Predictor { map, .. } => (map.h * map.w) as u64 * self.weight_params(),
        }
    }
    pub fn output(&self) -> Shape {
        match *self {
            SsdLayer::Extra { input, depth } => Shape::new(input.h.div_ceil(2), input.w.div_ceil(2), depth),
            SsdLayer::Predictor { map, outputs, .. } => Shape::new(map.h, map.w, outputs),
        }
    }
}

impl SsdLite {
    /// SSDLite-MobileNetV2 at `width` and square `resolution` (300 in the release) for `classes`
    /// object classes plus background.
    pub fn new(width: f32, resolution: u32, classes: u32) -> Result<SsdLite, ArchError> {
        Ok(SsdLite { backbone: Arch::new(width, resolution, classes + 1)? })
    }

    /// The backbone up to and including the 1280-channel conv (no pool, no classifier).
    pub fn backbone_layers(&self) -> Vec<Layer> {
        self.backbone.layers().into_iter().filter(|l| !matches!(l, Layer::Pool { .. } | Layer::Classifier(_))).collect()
    }

    /// The bottleneck whose expanded tensor is the first feature map: block 14 of 17 (TF-slim's
    /// `expanded_conv_13`, `layer_15/expansion_output`), the first at output stride 32.
    pub fn tap_block(&self) -> crate::Bottleneck {
        self.backbone.bottlenecks()[13]
    }

    /// The six feature maps: block 14's expansion (`layer_15/expansion_output`), the last 1x1
    /// conv (`layer_19`), then the four extra layers.
    pub fn feature_maps(&self) -> Vec<Shape> {
        let b14 = self.tap_block();
        let expansion = Shape::new(b14.input.h, b14.input.w, b14.hidden);
        let last = self.backbone_layers().last().expect("head conv").output();
        let mut maps = vec![expansion, last];
        let mut cur = last;
        for d in EXTRA_DEPTHS {
            // The Object Detection API scales extra depths too (min depth 16).
            let depth = make_divisible(d as f32 * self.backbone.width, 8).max(16);
            cur = SsdLayer::Extra { input: cur, depth }.output();
            maps.push(cur);
        }
        maps
    }

    /// Extra layers, then for each map its box and class predictors.
    pub fn head_layers(&self) -> Vec<SsdLayer> {
        let maps = self.feature_maps();
        let mut layers: Vec<SsdLayer> =
            maps.windows(2).skip(1).map(|w| SsdLayer::Extra { input: w[0], depth: w[1].c }).collect();
        for (map, anchors) in maps.iter().zip(ANCHORS_PER_LAYER) {
            layers.push(SsdLayer::Predictor { map: *map, outputs: anchors * 4, boxes: true });
            layers.push(SsdLayer::Predictor { map: *map, outputs: anchors * self.backbone.classes, boxes: false });
        }
        layers
    }

    /// Number of anchors over all maps (1917 at 300x300).
    pub fn anchors(&self) -> u32 {
        self.feature_maps().iter().zip(ANCHORS_PER_LAYER).map(|(m, a)| m.h * m.w * a).sum()
    }

    pub fn params(&self) -> u64 {
        self.backbone_layers().iter().map(Layer::weight_params).sum::<u64>()
            + self.head_layers().iter().map(SsdLayer::weight_params).sum::<u64>()
    }

    pub fn macs(&self) -> u64 {
        self.backbone_layers().iter().map(Layer::macs).sum::<u64>()
            + self.head_layers().iter().map(SsdLayer::macs).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_geometry_at_300() {
        let s = SsdLite::new(1.0, 300, 90).unwrap();
        let maps: Vec<(u32, u32)> = s.feature_maps().iter().map(|m| (m.h, m.c)).collect();
        assert_eq!(maps, [(19, 576), (10, 1280), (5, 512), (3, 256), (2, 256), (1, 128)]);
        assert_eq!(s.anchors(), 1917);
        // Paper Table 6: 4.3 M parameters and 0.8 B multiply-adds (COCO, 91 class slots).
        let p = s.params() as f64 / 1e6;
        let m = s.macs() as f64 / 1e9;
        assert!((p - 4.3).abs() < 0.25, "{p} M params");
        assert!((m - 0.8).abs() < 0.1, "{m} B MACs");
    }
}
