//! Maps an Object Detection API SSDLite-MobileNetV2 frozen graph onto `mnv2_arch::SsdLite`: each
//! slot of the description names its variables (TF-slim's scopes), whose shapes must match; batch
//! norms are folded into the convolutions.

use mnv2_arch::{Layer, SsdLayer, SsdLite};
use mnv2_model::{
    BlockWeights, ConvWeights, InputSpec, LayerWeights, Model, OutputKind, SsdExtraWeights, SsdPredictorWeights,
    SsdWeights, Task, Tensor,
};

use super::graph::{Constant, Graph};
use super::proto::attr_value::Value;
use crate::ImportError;
use crate::tflite::WIDTHS;

const BACKBONE: &str = "FeatureExtractor/MobilenetV2";
/// The graph's resize target (`[height, width]`).
const RESIZE: &str = "Preprocessor/map/while/ResizeImage/stack";
/// TF-slim's batch-norm epsilon, used when a graph does not say.
const DEFAULT_EPSILON: f32 = 0.001;

fn not_ssd(why: &str) -> ImportError {
    ImportError::NotMobileNetV2(format!("not an Object Detection API SSDLite-MobileNetV2 graph: {why}"))
}

/// Builds the detector a frozen GraphDef holds.
pub fn load_tf_graph(bytes: &[u8], name: &str) -> Result<Model, ImportError> {
    let g = Graph::parse(bytes)?;
    for required in [format!("{BACKBONE}/Conv/weights"), "BoxPredictor_0/ClassPredictor/weights".to_string()] {
        if g.node(&required).is_none() {
            return Err(not_ssd(&format!("{name} has no node {required}")));
        }
    }
    let resolution = match g.constant(RESIZE) {
        Ok(c) if c.values.len() == 2 && c.values[0] == c.values[1] && c.values[0] >= 32.0 => c.values[0] as u32,
        Ok(c) => return Err(not_ssd(&format!("resize target {:?}: expected a square size", c.values))),
        Err(_) => 300,
    };
    let class_conv = g.constant("BoxPredictor_0/ClassPredictor/weights")?;
    let first_anchors = mnv2_arch::ANCHORS_PER_LAYER[0] as usize;
    let slots = *class_conv.shape.last().unwrap_or(&0);
    if class_conv.shape.len() != 4 || slots < 2 * first_anchors || slots % first_anchors != 0 {
        return Err(not_ssd(&format!("class predictor 0 has shape {:?}", class_conv.shape)));
    }
    let classes = (slots / first_anchors - 1) as u32;
    // Try each width; report the error of width 1.0 when none fits.
    let mut first_err = None;
    for width in WIDTHS {
        let ssd = SsdLite::new(width, resolution, classes).map_err(|e| not_ssd(&e.to_string()))?;
        match map_ssd(&g, &ssd, name) {
            Ok(model) => return Ok(model),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.expect("at least one width"))
}

fn map_ssd(g: &Graph, ssd: &SsdLite, name: &str) -> Result<Model, ImportError> {
    let mut layers = Vec::new();
    for layer in ssd.backbone_layers() {
        layers.push(match layer {
            Layer::Stem(_) => LayerWeights::Stem(conv_bn(g, &format!("{BACKBONE}/Conv"))?),
            Layer::Head(_) => LayerWeights::Head(conv_bn(g, &format!("{BACKBONE}/Conv_1"))?),
            Layer::Bottleneck(b) => {
                let scope = match b.index {
                    1 => format!("{BACKBONE}/expanded_conv"),
                    i => format!("{BACKBONE}/expanded_conv_{}", i - 1),
                };
                let expand = b.has_expand().then(|| conv_bn(g, &format!("{scope}/expand"))).transpose()?;
                LayerWeights::Bottleneck(Box::new(BlockWeights {
                    expand,
                    depthwise: conv_bn(g, &format!("{scope}/depthwise"))?,
                    project: conv_bn(g, &format!("{scope}/project"))?,
                    add_output: None,
                }))
            }
            Layer::Pool { .. } | Layer::Classifier(_) => unreachable!("backbone layers end at the head conv"),
        });
    }
    let mut extras = Vec::new();
    for (i, layer) in ssd.head_layers().iter().enumerate() {
        if let SsdLayer::Extra { depth, .. } = *layer {
            // TF-slim's names: layer_19_1_Conv2d_2_1x1_256, layer_19_2_Conv2d_2_3x3_s2_512(_depthwise).
            let n = i + 2;
            let reduce = format!("{BACKBONE}/layer_19_1_Conv2d_{n}_1x1_{}", depth / 2);
            let conv = format!("{BACKBONE}/layer_19_2_Conv2d_{n}_3x3_s2_{depth}");
            extras.push(SsdExtraWeights {
                reduce: conv_bn(g, &reduce)?,
                depthwise: conv_bn(g, &format!("{conv}_depthwise"))?,
                expand: conv_bn(g, &conv)?,
            });
        }
    }
    let mut predictors = Vec::new();
    for i in 0..ssd.feature_maps().len() {
        let p = format!("BoxPredictor_{i}");
        predictors.push(SsdPredictorWeights {
            box_depthwise: conv_bn(g, &format!("{p}/BoxEncodingPredictor_depthwise"))?,
            box_conv: conv_bias(g, &format!("{p}/BoxEncodingPredictor"))?,
            class_depthwise: conv_bn(g, &format!("{p}/ClassPredictor_depthwise"))?,
            class_conv: conv_bias(g, &format!("{p}/ClassPredictor"))?,
        });
    }
    let model = Model {
        arch: ssd.backbone,
        layers,
        task: Task::Detect(Box::new(SsdWeights { extras, predictors })),
        // The graph computes (2 / 255) x - 1.
        input: InputSpec::uniform(127.5, 127.5),
        output: OutputKind::Logits,
        labels: None,
        name: name.to_string(),
    };
    model.validate()?;
    Ok(model)
}

/// A TF-slim conv (`weights` HWIO or `depthwise_weights` HWC1) with its batch norm folded in.
fn conv_bn(g: &Graph, scope: &str) -> Result<ConvWeights, ImportError> {
    let (shape, mut w, depthwise) = weights(g, scope)?;
    // Output channels are the first axis for full convs (OHWI) and the last for depthwise (1HWC).
    let out = if depthwise { shape[3] } else { shape[0] };
    let bn = |v: &str| g.constant(&format!("{scope}/BatchNorm/{v}"));
    let (beta, mean, var) = (bn("beta")?, bn("moving_mean")?, bn("moving_variance")?);
    // `scale: false` batch norms have no gamma.
    let gamma = bn("gamma").unwrap_or(Constant { shape: vec![out], values: vec![1.0; out] });
    for (what, c) in [("gamma", &gamma), ("beta", &beta), ("moving_mean", &mean), ("moving_variance", &var)] {
        if c.values.len() != out {
            return Err(not_ssd(&format!("{scope}/BatchNorm/{what} has shape {:?}, expected [{out}]", c.shape)));
        }
    }
    let eps = epsilon(g, scope);
    let scale: Vec<f32> = (0..out).map(|c| gamma.values[c] / (var.values[c] + eps).sqrt()).collect();
    let bias: Vec<f32> = (0..out).map(|c| beta.values[c] - mean.values[c] * scale[c]).collect();
    let inner = if depthwise { 1 } else { w.len() / out };
    for (i, v) in w.iter_mut().enumerate() {
        *v *= scale[if depthwise { i % out } else { i / inner }];
    }
    Ok(ConvWeights { weights: Tensor::f32(shape, w), bias: Tensor::f32(vec![out], bias), output: None })
}

/// A conv with `weights` and `biases` and no batch norm (the predictors' last layers).
fn conv_bias(g: &Graph, scope: &str) -> Result<ConvWeights, ImportError> {
    let (shape, w, _) = weights(g, scope)?;
    let bias = g.constant(&format!("{scope}/biases"))?;
    if bias.values.len() != shape[0] {
        return Err(not_ssd(&format!("{scope}/biases has shape {:?}, expected [{}]", bias.shape, shape[0])));
    }
    Ok(ConvWeights { weights: Tensor::f32(shape, w), bias: Tensor::f32(bias.shape, bias.values), output: None })
}

/// A scope's weights in the engine's layout: OHWI for convs, (1, H, W, C) for depthwise convs,
/// returning (shape, values, whether depthwise).
fn weights(g: &Graph, scope: &str) -> Result<(Vec<usize>, Vec<f32>, bool), ImportError> {
    if let Ok(c) = g.constant(&format!("{scope}/depthwise_weights")) {
        // TF: [kh, kw, channels, multiplier 1], the same order as the engine's [1, kh, kw, c].
        return match c.shape[..] {
            [kh, kw, ch, 1] => Ok((vec![1, kh, kw, ch], c.values, true)),
            _ => Err(not_ssd(&format!("{scope}/depthwise_weights has shape {:?}", c.shape))),
        };
    }
    let c = g.constant(&format!("{scope}/weights"))?;
    let [kh, kw, i, o] = c.shape[..] else {
        return Err(not_ssd(&format!("{scope}/weights has shape {:?}", c.shape)));
    };
    // HWIO -> OHWI.
    let mut w = vec![0.0; c.values.len()];
    for (src, &v) in c.values.iter().enumerate() {
        let (oo, rest) = (src % o, src / o);
        let (ii, rest) = (rest % i, rest / i);
        let (x, y) = (rest % kw, rest / kw);
        w[((oo * kh + y) * kw + x) * i + ii] = v;
    }
    Ok((vec![o, kh, kw, i], w, false))
}

fn epsilon(g: &Graph, scope: &str) -> f32 {
    let node = g.node(&format!("{scope}/BatchNorm/FusedBatchNorm"));
    match node.and_then(|n| n.attr.get("epsilon")).and_then(|a| a.value.as_ref()) {
        Some(Value::F(e)) => *e,
        _ => DEFAULT_EPSILON,
    }
}
