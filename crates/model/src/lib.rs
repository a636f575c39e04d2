//! A model: an architecture from `mnv2-arch` and the weights that fill its slots, kept in the
//! form the file stored them (float or quantized), with every activation's quantization. Pure
//! data: the importers fill it and the exporters read it without the kernels; the engine
//! compiles it.

pub mod quantize;
use mnv2_arch::{Arch, Layer};

/// Why weights do not fit the architecture they are given for.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model weights do not fit the architecture: {0}")]
    Weights(String),
    #[error("cannot quantize: {0}")]
    Quantize(String),
}

/// Affine quantization: `real = scale[c] * (q - zero_point[c])`, per tensor (one entry) or per
/// channel along `axis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

impl Quant {
    pub fn per_tensor(scale: f32, zero_point: i64) -> Quant {
        Quant { scale: vec![scale], zero_point: vec![zero_point], axis: 0 }
    }
}

/// Raw tensor values as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I32(Vec<i32>),
}

/// A weight tensor: shape, values and (for quantized values) their quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
    pub quant: Option<Quant>,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor { shape, data: TensorData::F32(values), quant: None }
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Real values: floats as they are, integers through their quantization.
    pub fn dequantize(&self) -> Result<Vec<f32>, ModelError> {
        let ints: Vec<i64> = match &self.data {
            TensorData::F32(v) => return Ok(v.clone()),
            TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
        };
        let q = self.quant.as_ref().ok_or_else(|| ModelError::Weights("integer tensor without quantization".into()))?;
        if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
            return Err(ModelError::Weights("quantization with mismatched scale and zero point".into()));
        }
        let channels = q.scale.len();
        // Elements between consecutive channels along the quantized axis.
        let inner: usize = self.shape.iter().skip(q.axis + 1).product();
        if channels > 1 && self.shape.get(q.axis) != Some(&channels) {
            return Err(ModelError::Weights(format!(
                "{channels} per-channel scales for axis {} of shape {:?}",
                q.axis, self.shape
            )));
        }
        Ok(ints
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = if channels == 1 { 0 } else { (i / inner) % channels };
                q.scale[c] * (x - q.zero_point[c]) as f32
            })
            .collect())
    }
}

/// A convolution's (or fully connected layer's) weights, bias and output quantization.
/// Weights are OHWI for full convs (O x I for fully connected, treated as 1x1) and 1HWC for
/// depthwise convs, as in TFLite; batch norm is folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    pub weights: Tensor,
    pub bias: Tensor,
    /// Quantization of the output activations (quantized models only).
    pub output: Option<Quant>,
}

/// The weights of one bottleneck.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    pub expand: Option<ConvWeights>,
    pub depthwise: ConvWeights,
    pub project: ConvWeights,
    /// Quantization of the residual sum (quantized models with a shortcut only).
    pub add_output: Option<Quant>,
}

/// How the global pool was expressed (they round differently in integer arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// AVERAGE_POOL_2D over the whole map.
    Average,
    /// MEAN over height and width.
    Mean,
}

/// Weights for each [`Layer`] of the architecture, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerWeights {
    Stem(ConvWeights),
    Bottleneck(Box<BlockWeights>),
    Head(ConvWeights),
    Pool { kind: PoolKind, output: Option<Quant> },
    Classifier(ConvWeights),
}

/// How an image becomes the network's square input (the fraction kept is the classifier's
/// `crop` option, 0.875 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preprocess {
    /// Central crop keeping the fraction of each side, then resize to the input size (TF-slim's
    /// evaluation, the TFLite models).
    #[default]
    CropThenResize,
    /// Resize the shorter side to input size / fraction (224 / 0.875 = 256), then the central
    /// input-size crop (torchvision's `Resize(256)` + `CenterCrop(224)`).
    ResizeThenCrop,
}

/// How the model's input relates to image bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// Real input = (pixel byte - mean[c]) / std[c] for channel c of R, G, B (all 127.5 for
    /// [-1, 1]; 128 for TF1 uint8; ImageNet's per-channel statistics x 255 for torchvision).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Quantization of the input tensor, when it is an integer tensor.
    pub quant: Option<Quant>,
    /// Quantization after an input QUANTIZE op (uint8 in, int8 inside), when the graph has one.
    pub requantized: Option<Quant>,
    /// Whether the stored input tensor is signed int8 (else uint8 when quantized).
    pub signed: bool,
    pub preprocess: Preprocess,
}

impl InputSpec {
    /// A float input of `(byte - mean) / std` in every channel, images cropped then resized.
    pub const fn uniform(mean: f32, std: f32) -> InputSpec {
        InputSpec {
            mean: [mean; 3],
            std: [std; 3],
            quant: None,
            requantized: None,
            signed: false,
            preprocess: Preprocess::CropThenResize,
        }
    }

    /// torchvision's ImageNet input: `(byte / 255 - mean) / std` per channel, resized then cropped.
    pub const fn torchvision() -> InputSpec {
        InputSpec {
            mean: [0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0],
            std: [0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0],
            quant: None,
            requantized: None,
            signed: false,
            preprocess: Preprocess::ResizeThenCrop,
        }
    }

    /// Appends the real values of RGB pixel bytes (HWC, channels interleaved) to `out`.
    ///
    /// Sixteen pixels at a time against the channel constants laid out three-periodic, so the
    /// compiler vectorizes the subtraction and the division (the same IEEE operations, the same
    /// bits, as one pixel at a time).
    pub fn extend_real(&self, out: &mut Vec<f32>, bytes: &[u8]) {
        const LANES: usize = 48;
        let mean: [f32; LANES] = std::array::from_fn(|i| self.mean[i % 3]);
        let std: [f32; LANES] = std::array::from_fn(|i| self.std[i % 3]);
        let whole = bytes.len() / 3 * 3;
        out.reserve(whole);
        let chunks = bytes[..whole].chunks_exact(LANES);
        let rest = chunks.remainder();
        for chunk in chunks {
            let v: [f32; LANES] = std::array::from_fn(|i| (chunk[i] as f32 - mean[i]) / std[i]);
            out.extend_from_slice(&v);
        }
        out.extend(rest.iter().zip(mean.iter().zip(&std)).map(|(&b, (&m, &d))| (b as f32 - m) / d));
    }
}

/// What the final output tensor holds.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    Logits,
    /// Softmax probabilities; `quant` is the quantized softmax's output quantization
    /// (and `requantized` a final QUANTIZE to uint8, when present).
    Softmax {
        quant: Option<Quant>,
        requantized: Option<Quant>,
    },
}

/// The weights of the Mobile DeepLabv3 head (see `mnv2_arch::DeepLab`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeepLabWeights {
    /// Quantization of the globally pooled features (quantized models).
    pub pooled: Option<Quant>,
    /// 1x1 conv + ReLU on the pooled features.
    pub image_pool: ConvWeights,
    /// Quantization of the broadcast image-pool branch inside the concatenation.
    pub image_pool_resized: Option<Quant>,
    /// 1x1 conv + ReLU on the features.
    pub aspp0: ConvWeights,
    /// 1x1 conv + ReLU on the concatenation (image pool first).
    pub projection: ConvWeights,
    /// 1x1 conv to class scores.
    pub logits: ConvWeights,
    /// The upsampling's corner alignment, as the file sets it.
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// One SSDLite extra feature layer: 1x1 conv to half depth, 3x3 depthwise stride 2, 1x1 conv
/// to full depth (batch norms folded, each followed by ReLU6).
#[derive(Debug, Clone, PartialEq)]
pub struct SsdExtraWeights {
    pub reduce: ConvWeights,
    pub depthwise: ConvWeights,
    pub expand: ConvWeights,
}

/// The box and class predictors of one SSDLite feature map: each a 3x3 depthwise conv (ReLU6)
/// and a 1x1 conv with bias.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdPredictorWeights {
    pub box_depthwise: ConvWeights,
    pub box_conv: ConvWeights,
    pub class_depthwise: ConvWeights,
    pub class_conv: ConvWeights,
}

/// The SSDLite head (see `mnv2_arch::SsdLite`): four extra layers and six predictors.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdWeights {
    pub extras: Vec<SsdExtraWeights>,
    pub predictors: Vec<SsdPredictorWeights>,
}

/// What the network computes after the feature extractor.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Head conv, pool and classifier (their weights are the last three `layers`).
    Classify,
    /// Mobile DeepLabv3: `layers` hold only the feature extractor.
    Segment(Box<DeepLabWeights>),
    /// SSDLite: `layers` hold the backbone up to the 1280-channel conv; `arch.classes` counts
    /// the background class.
    Detect(Box<SsdWeights>),
}

/// A MobileNetV2 with weights.
#[derive(Debug, Clone)]
pub struct Model {
    pub arch: Arch,
    pub layers: Vec<LayerWeights>,
    pub task: Task,
    pub input: InputSpec,
    pub output: OutputKind,
    /// Class names, one per output index, when the file carries them.
    pub labels: Option<Vec<String>>,
    /// Where the model came from (file name), for messages.
    pub name: String,
}

impl Model {
    /// Checks that every slot of the architecture has weights of the right shape.
    pub fn validate(&self) -> Result<(), ModelError> {
        let layers = match &self.task {
            Task::Classify => self.arch.layers(),
            Task::Segment(head) => {
                let d = self.deeplab().expect("segment task");
                let f = d.features();
                let a = d.aspp_channels;
                check_conv(&head.image_pool, a, 1, f.c, "image pooling")?;
                check_conv(&head.aspp0, a, 1, f.c, "aspp 1x1")?;
                check_conv(&head.projection, a, 1, 2 * a, "projection")?;
                check_conv(&head.logits, self.arch.classes, 1, a, "logits")?;
                self.arch.features()
            }
            Task::Detect(head) => {
                let ssd = self.ssdlite().expect("detect task");
                validate_ssd(&ssd, head)?;
                ssd.backbone_layers()
            }
        };
        if layers.len() != self.layers.len() {
            return Err(ModelError::Weights(format!("{} weight slots for {} layers", self.layers.len(), layers.len())));
        }
        for (i, (layer, w)) in layers.iter().zip(&self.layers).enumerate() {
            let ok = match (layer, w) {
                (Layer::Stem(c), LayerWeights::Stem(w))
                | (Layer::Head(c), LayerWeights::Head(w))
                | (Layer::Classifier(c), LayerWeights::Classifier(w)) => {
                    check_conv(w, c.output.c, c.kernel, c.input.c, &format!("layer {i}"))?;
                    true
                }
                (Layer::Bottleneck(b), LayerWeights::Bottleneck(bw)) => {
                    let name = format!("bottleneck {}", b.index);
                    match (&bw.expand, b.has_expand()) {
                        (Some(e), true) => check_conv(e, b.hidden, 1, b.input.c, &format!("{name} expand"))?,
                        (None, false) => {}
                        _ => {
                            return Err(ModelError::Weights(format!("{name}: expand conv presence differs")));
                        }
                    }
                    check_depthwise(&bw.depthwise, b.hidden, &format!("{name} depthwise"))?;
                    check_conv(&bw.project, b.out, 1, b.hidden, &format!("{name} project"))?;
                    true
                }
                (Layer::Pool { .. }, LayerWeights::Pool { .. }) => true,
                _ => false,
            };
            if !ok {
                return Err(ModelError::Weights(format!("layer {i}: weights of the wrong kind")));
            }
        }
        Ok(())
    }

    /// The segmentation description, for a segmentation model.
    pub fn deeplab(&self) -> Option<mnv2_arch::DeepLab> {
        match self.task {
            Task::Segment(_) => {
                Some(mnv2_arch::DeepLab { backbone: self.arch, aspp_channels: mnv2_arch::ASPP_CHANNELS })
            }
            _ => None,
        }
    }

    /// The detector description, for a detection model.
    pub fn ssdlite(&self) -> Option<mnv2_arch::SsdLite> {
        match self.task {
            Task::Detect(_) => Some(mnv2_arch::SsdLite { backbone: self.arch }),
            _ => None,
        }
    }

    /// Whether activations are int8 (weights int8) rather than uint8, for quantized models.
    pub fn activations_signed(&self) -> bool {
        matches!(&self.layers[0], LayerWeights::Stem(w) if matches!(w.weights.data, TensorData::I8(_)))
    }

    /// Whether the weights are integers (the model can run in integer arithmetic).
    pub fn is_quantized(&self) -> bool {
        matches!(&self.layers[0], LayerWeights::Stem(w) if !matches!(w.weights.data, TensorData::F32(_)))
    }
}

fn check_conv(w: &ConvWeights, out: u32, k: u32, inp: u32, name: &str) -> Result<(), ModelError> {
    let (o, k, i) = (out as usize, k as usize, inp as usize);
    let s = &w.weights.shape;
    let fits = *s == [o, k, k, i] || (k == 1 && *s == [o, i]);
    if !fits || w.weights.len() != o * k * k * i {
        return Err(ModelError::Weights(format!("{name}: weights {s:?}, expected [{o}, {k}, {k}, {i}]")));
    }
    if w.bias.shape != [o] {
        return Err(ModelError::Weights(format!("{name}: bias {:?}, expected [{o}]", w.bias.shape)));
    }
    Ok(())
}

fn validate_ssd(ssd: &mnv2_arch::SsdLite, head: &SsdWeights) -> Result<(), ModelError> {
    use mnv2_arch::SsdLayer;
    let layers = ssd.head_layers();
    let extras: Vec<_> = layers.iter().filter(|l| matches!(l, SsdLayer::Extra { .. })).collect();
    if extras.len() != head.extras.len() || 2 * head.predictors.len() != layers.len() - extras.len() {
        return Err(ModelError::Weights(format!(
            "{} extra layers and {} predictors, expected {} and {}",
            head.extras.len(),
            head.predictors.len(),
            extras.len(),
            (layers.len() - extras.len()) / 2
        )));
    }
    for (i, (l, w)) in extras.iter().zip(&head.extras).enumerate() {
        if let SsdLayer::Extra { input, depth } = **l {
            let half = depth / 2;
            check_conv(&w.reduce, half, 1, input.c, &format!("extra layer {i} 1x1"))?;
            check_depthwise(&w.depthwise, half, &format!("extra layer {i} depthwise"))?;
            check_conv(&w.expand, depth, 1, half, &format!("extra layer {i} expand"))?;
        }
    }
    let predictors = layers.iter().filter_map(|l| match *l {
        SsdLayer::Predictor { map, outputs, .. } => Some((map, outputs)),
        _ => None,
    });
    let predictors: Vec<_> = predictors.collect();
    for (i, (pair, w)) in predictors.chunks_exact(2).zip(&head.predictors).enumerate() {
        let ((map, boxes), (_, classes)) = (pair[0], pair[1]);
        check_depthwise(&w.box_depthwise, map.c, &format!("box predictor {i} depthwise"))?;
        check_conv(&w.box_conv, boxes, 1, map.c, &format!("box predictor {i}"))?;
        check_depthwise(&w.class_depthwise, map.c, &format!("class predictor {i} depthwise"))?;
        check_conv(&w.class_conv, classes, 1, map.c, &format!("class predictor {i}"))?;
    }
    Ok(())
}

fn check_depthwise(w: &ConvWeights, c: u32, name: &str) -> Result<(), ModelError> {
    let c = c as usize;
    if w.weights.shape != [1, 3, 3, c] {
        return Err(ModelError::Weights(format!("{name}: weights {:?}, expected [1, 3, 3, {c}]", w.weights.shape)));
    }
    if w.bias.shape != [c] {
        return Err(ModelError::Weights(format!("{name}: bias {:?}, expected [{c}]", w.bias.shape)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::InputSpec;

    /// Every byte of every channel becomes exactly `(byte - mean) / std`, for the [-1, 1] and
    /// torchvision specs, in the pixels' order.
    #[test]
    fn extend_real_is_the_per_channel_quotient() {
        // 256 pixels and five more: whole groups of sixteen and a remainder.
        let bytes: Vec<u8> = (0..=255u8).chain(0..5).flat_map(|v| [v, 255 - v, v.wrapping_mul(7)]).collect();
        for spec in [InputSpec::uniform(127.5, 127.5), InputSpec::torchvision()] {
            let mut out = vec![42.0];
            spec.extend_real(&mut out, &bytes);
            assert_eq!(out.len(), 1 + bytes.len());
            for (i, (&b, &x)) in bytes.iter().zip(&out[1..]).enumerate() {
                let c = i % 3;
                assert_eq!(x.to_bits(), ((b as f32 - spec.mean[c]) / spec.std[c]).to_bits(), "byte {i}");
            }
        }
    }
}
