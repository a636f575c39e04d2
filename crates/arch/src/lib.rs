//! MobileNetV2 as data: paper Table 2, the width multiplier and the input resolution produce the
//! layer list, its shapes, parameter counts and multiply-adds. No tensors, no `unsafe`.
//!
//! ```
//! let arch = mnv2_arch::Arch::new(1.0, 224, 1001).unwrap();
//! assert_eq!(arch.layers().len(), 17 + 4);
//! assert!((arch.params() as f64 / 1e6 - 3.47).abs() < 0.01);
//! ```

mod deeplab;
pub mod describe;
mod layer;
mod ssdlite;
mod table;

pub use deeplab::{ASPP_CHANNELS, DeepLab, HeadLayer};
pub use layer::{Bottleneck, Conv, Layer, Shape};
pub use ssdlite::{ANCHORS_PER_LAYER, EXTRA_DEPTHS, SsdLayer, SsdLite};
pub use table::{STEM_CHANNELS, Stage, TABLE_2, head_channels, make_divisible, make_divisible_min};

use thiserror::Error;

/// Why an architecture cannot be built.
#[derive(Debug, Error, PartialEq)]
pub enum ArchError {
    #[error("width multiplier {0} is outside the supported range 0.1..=3.0")]
    Width(f32),
    #[error("input resolution {0} is outside the supported range 32..=4096")]
    Resolution(u32),
    #[error("class count must be at least 1")]
    Classes,
    #[error("output stride {0} is not one of 8, 16, 32")]
    OutputStride(u32),
    #[error("channel divisor {0} does not divide 8")]
    Divisor(u32),
}

/// Where a strided convolution pads: TensorFlow's "same" (the TFLite and TensorFlow models: the
/// odd pixel of an even input at the bottom/right) or symmetric, `kernel / 2` on every side
/// (PyTorch and torchvision). Both give the same output sizes; the taps differ by one pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    #[default]
    TensorFlowSame,
    Symmetric,
}

impl Padding {
    /// Zeros added (before, after) along one axis of `input` pixels for a `kernel`-wide
    /// window moving by `stride`: TensorFlow's "same" puts the odd one after; symmetric
    /// padding is half the kernel on each side.
    pub fn before_after(self, input: u32, kernel: u32, stride: u32) -> (u32, u32) {
        match self {
            Padding::Symmetric => (kernel / 2, kernel / 2),
            Padding::TensorFlowSame => {
                let out = input.div_ceil(stride);
                let total = ((out - 1) * stride + kernel).saturating_sub(input);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// One member of the MobileNetV2 family.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Arch {
    /// Width (depth) multiplier alpha.
    pub width: f32,
    /// Input height and width in pixels.
    pub resolution: u32,
    /// Number of classifier outputs (1001 for the TF-slim ImageNet models, 0th = background).
    pub classes: u32,
    /// Ratio of input to final feature-map resolution; below 32 the later strides become dilation.
    pub output_stride: u32,
    /// Layer widths are rounded to multiples of this (8 in the classification release; DeepLab's
    /// feature extractor uses 1 for depth multipliers other than 1), never below 8.
    pub divisor: u32,
    /// How the convolutions pad (the weights were trained with one of the two).
    pub padding: Padding,
}

impl Arch {
    /// A classification network at output stride 32.
    pub fn new(width: f32, resolution: u32, classes: u32) -> Result<Arch, ArchError> {
        let arch = Arch { width, resolution, classes, output_stride: 32, divisor: 8, padding: Padding::TensorFlowSame };
        arch.validate()?;
        Ok(arch)
    }

    /// The same network with atrous convolution keeping the features at `output_stride`.
    pub fn with_output_stride(mut self, output_stride: u32) -> Result<Arch, ArchError> {
        self.output_stride = output_stride;
        self.validate()?;
        Ok(self)
    }

    /// The same network padding as `padding` says.
    pub fn with_padding(mut self, padding: Padding) -> Arch {
        self.padding = padding;
        self
    }

    /// The same network with layer widths rounded to multiples of `divisor` (1 or 8).
    pub fn with_divisor(mut self, divisor: u32) -> Result<Arch, ArchError> {
        if divisor == 0 || 8 % divisor != 0 {
            return Err(ArchError::Divisor(divisor));
        }
        self.divisor = divisor;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ArchError> {
        if !(0.1..=3.0).contains(&self.width) || !self.width.is_finite() {
            return Err(ArchError::Width(self.width));
        }
        if !(32..=4096).contains(&self.resolution) {
            return Err(ArchError::Resolution(self.resolution));
        }
        if self.classes == 0 {
            return Err(ArchError::Classes);
        }
        if ![8, 16, 32].contains(&self.output_stride) {
            return Err(ArchError::OutputStride(self.output_stride));
        }
        Ok(())
    }

    /// Every layer in execution order: stem, 17 bottlenecks, 1x1 head conv, global pool, classifier.
    pub fn layers(&self) -> Vec<Layer> {
        let mut layers = Vec::with_capacity(21);
        let r = self.resolution;
        let stem_out = make_divisible_min(STEM_CHANNELS as f32 * self.width, self.divisor, 8);
        let stem = Conv::new(Shape::new(r, r, 3), stem_out, 3, 2, 1, true);
        let mut shape = stem.output;
        let mut stride_so_far = 2;
        let mut dilation = 1;
        layers.push(Layer::Stem(stem));
        let mut index = 1;
        for stage in TABLE_2.iter() {
            let out = make_divisible_min(stage.c as f32 * self.width, self.divisor, 8);
            for i in 0..stage.n {
                let mut stride = if i == 0 { stage.s } else { 1 };
                // Atrous: once the output stride is reached, strides become dilation (TF-slim rule:
                // the layer that would exceed it runs at stride 1, later layers dilate).
                let mut layer_dilation = dilation;
                if stride > 1 && stride_so_far * stride > self.output_stride {
                    layer_dilation = dilation;
                    dilation *= stride;
                    stride = 1;
                } else {
                    stride_so_far *= stride;
                }
                let block = Bottleneck::new(index, shape, stage.t, out, stride, layer_dilation);
                shape = block.output();
                layers.push(Layer::Bottleneck(block));
                index += 1;
            }
        }
        let head = Conv::new(shape, head_channels(self.width), 1, 1, 1, true);
        let pooled = Shape::new(1, 1, head.output.c);
        layers.push(Layer::Head(head));
        layers.push(Layer::Pool { input: head.output, output: pooled });
        layers.push(Layer::Classifier(Conv::new(pooled, self.classes, 1, 1, 1, false)));
        layers
    }

    /// The feature extractor: the stem and the 17 bottlenecks (what task heads read).
    pub fn features(&self) -> Vec<Layer> {
        self.layers().into_iter().filter(|l| matches!(l, Layer::Stem(_) | Layer::Bottleneck(_))).collect()
    }

    /// The bottleneck blocks alone, in order (17 of them).
    pub fn bottlenecks(&self) -> Vec<Bottleneck> {
        self.layers()
            .into_iter()
            .filter_map(|l| match l {
                Layer::Bottleneck(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// Learned weights (convolution kernels and classifier matrix), the count the paper and the
    /// TF-slim release publish (3.47 M for 1.0-224 with 1001 classes).
    pub fn params(&self) -> u64 {
        self.layers().iter().map(Layer::weight_params).sum()
    }

    /// All trainable parameters: weights plus batch-norm scale and shift and the classifier
    /// bias (torchvision counts these: 3 504 872 for 1.0 with 1000 classes).
    pub fn trainable_params(&self) -> u64 {
        self.layers().iter().map(Layer::trainable_params).sum()
    }

    /// Multiply-adds of one inference.
    pub fn macs(&self) -> u64 {
        self.layers().iter().map(Layer::macs).sum()
    }

    /// The input shape (height, width, 3).
    pub fn input(&self) -> Shape {
        Shape::new(self.resolution, self.resolution, 3)
    }
}

#[cfg(test)]
mod tests;
