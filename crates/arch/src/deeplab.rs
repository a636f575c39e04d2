//! Mobile DeepLabv3 (paper section 6.3) as data: the MobileNetV2 feature extractor at output
//! stride 16 without its last 1x1 conv, the simplified ASPP (image pooling and a 1x1 branch,
//! concatenated and projected), the logits, bilinear upsampling to the input and argmax.

use crate::{Arch, ArchError, Layer, Shape};

/// Channels of each ASPP branch and of the projection in the public release.
pub const ASPP_CHANNELS: u32 = 256;

/// A segmentation network: the backbone (at its output stride) and the head.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DeepLab {
    /// The feature extractor; `classes` are the segmentation classes (21 for PASCAL VOC).
    pub backbone: Arch,
    pub aspp_channels: u32,
}

/// A layer of the DeepLab head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HeadLayer {
    /// Global average pool of the features, 1x1 conv + BN + ReLU, broadcast back over the map.
    ImagePool { input: Shape, out: u32 },
    /// The 1x1 conv + BN + ReLU branch.
    Aspp1x1 { input: Shape, out: u32 },
    /// 1x1 conv + BN + ReLU over the concatenation of the two branches (image pool first).
    Projection { input: Shape, out: u32 },
    /// 1x1 conv to class scores (no activation).
    Logits { input: Shape, classes: u32 },
    /// Bilinear upsampling of the scores to the input size (corners aligned), then argmax.
    UpsampleArgmax { input: Shape, output: Shape },
}

impl HeadLayer {
    pub fn weight_params(&self) -> u64 {
        match *self {
            HeadLayer::ImagePool { input, out }
            | HeadLayer::Aspp1x1 { input, out }
            | HeadLayer::Projection { input, out } => input.c as u64 * out as u64,
            HeadLayer::Logits { input, classes } => input.c as u64 * classes as u64,
            HeadLayer::UpsampleArgmax { .. } => 0,
        }
    }
    pub fn macs(&self) -> u64 {
        match *self {
            HeadLayer::ImagePool { .. } => self.weight_params(),
            HeadLayer::Aspp1x1 { input, .. }
            | HeadLayer::Projection { input, .. }
            | HeadLayer::Logits { input, .. } => (input.h * input.w) as u64 * self.weight_params(),
            HeadLayer::UpsampleArgmax { .. } => 0,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            HeadLayer::ImagePool { .. } => "image pooling",
            HeadLayer::Aspp1x1 { .. } => "aspp 1x1",
            HeadLayer::Projection { .. } => "projection",
            HeadLayer::Logits { .. } => "logits",
            HeadLayer::UpsampleArgmax { .. } => "upsample + argmax",
        }
    }
}

impl DeepLab {
    /// DeepLab at output stride 16 with the release's 256-channel ASPP; as in the release, layer
    /// widths are rounded to multiples of 8 only at depth 1 (to whole channels otherwise).
    pub fn new(width: f32, resolution: u32, classes: u32) -> Result<DeepLab, ArchError> {
        let divisor = if width == 1.0 { 8 } else { 1 };
        let backbone = Arch::new(width, resolution, classes)?.with_output_stride(16)?.with_divisor(divisor)?;
        Ok(DeepLab { backbone, aspp_channels: ASPP_CHANNELS })
    }

    /// Stem and bottlenecks (the features; no 1280-channel conv).
    pub fn backbone_layers(&self) -> Vec<Layer> {
        self.backbone.features()
    }

    /// The feature map the head reads.
    pub fn features(&self) -> Shape {
        self.backbone_layers().last().expect("the backbone has layers").output()
    }

    pub fn head_layers(&self) -> Vec<HeadLayer> {
        let f = self.features();
        let a = self.aspp_channels;
        let map = |c| Shape::new(f.h, f.w, c);
        let r = self.backbone.resolution;
        vec![
            HeadLayer::ImagePool { input: f, out: a },
            HeadLayer::Aspp1x1 { input: f, out: a },
            HeadLayer::Projection { input: map(2 * a), out: a },
            HeadLayer::Logits { input: map(a), classes: self.backbone.classes },
            HeadLayer::UpsampleArgmax { input: map(self.backbone.classes), output: Shape::new(r, r, 1) },
        ]
    }

    /// Weights of the convolutions (batch norm folded), as the paper counts parameters.
    pub fn params(&self) -> u64 {
        self.backbone_layers().iter().map(Layer::weight_params).sum::<u64>()
            + self.head_layers().iter().map(HeadLayer::weight_params).sum::<u64>()
    }

    pub fn macs(&self) -> u64 {
        self.backbone_layers().iter().map(Layer::macs).sum::<u64>()
            + self.head_layers().iter().map(HeadLayer::macs).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_at_513() {
        let d = DeepLab::new(1.0, 513, 21).unwrap();
        assert_eq!(d.features(), Shape::new(33, 33, 320));
        assert_eq!(d.backbone_layers().len(), 18);
        let head = d.head_layers();
        assert_eq!(head[2], HeadLayer::Projection { input: Shape::new(33, 33, 512), out: 256 });
        assert_eq!(
            head[4],
            HeadLayer::UpsampleArgmax { input: Shape::new(33, 33, 21), output: Shape::new(513, 513, 1) }
        );
        let half = DeepLab::new(0.5, 513, 21).unwrap();
        assert_eq!(half.features(), Shape::new(33, 33, 160));
        // Whole channels at depth 0.5 (the release's dm05 model): 16, 8, 12, 16, 32, 48, 80, 160.
        let outs: Vec<u32> = half.backbone_layers().iter().map(|l| l.output().c).collect();
        assert_eq!(outs, [16, 8, 12, 12, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160]);
    }

    #[test]
    fn params_and_macs_by_hand() {
        // Backbone without the 1280 conv: 3.47 M - 320 * 1280 - 1280 * 1001 = 1.8117 M; the head adds
        // 320*256*2 + 512*256 + 256*21 = 300 288.
        let d = DeepLab::new(1.0, 513, 21).unwrap();
        let backbone = Arch::new(1.0, 224, 1001).unwrap().params() - 320 * 1280 - 1280 * 1001;
        assert_eq!(d.params(), backbone + 300_288);
        // The paper's MNetV2* OS16 without ASPP: 2.11 M params, 2.75 B MAdds (its count includes
        // batch norms); ours with the simplified ASPP lands near.
        assert!((d.params() as f64 / 1e6 - 2.11).abs() < 0.05, "{}", d.params());
        let b = d.macs() as f64 / 1e9;
        assert!((2.5..3.2).contains(&b), "{b} B MACs");
    }
}
