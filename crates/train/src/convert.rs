//! Between the inference engine's models (batch norm folded into the convolutions) and
//! trainable networks (convolutions and batch norms apart).

use mnv2_model::{BlockWeights, ConvWeights, InputSpec, LayerWeights, Model, OutputKind, PoolKind, Task, Tensor};

use crate::TrainError;
use crate::layers::BN_EPS;
use crate::model::{ConvKind, TrainNet};

impl TrainNet {
    /// A trainable copy of a classification model (quantized weights dequantized), padding as
    /// the model was trained with (TensorFlow's "same" or PyTorch's symmetric). Batch norms start as the identity plus
    /// the folded bias; call [`TrainNet::calibrate_batch_norms`] on a first batch before training.
    /// With `classes` different from the model's, the classifier starts at zero.
    pub fn from_model(model: &Model, batch: usize, classes: usize) -> Result<TrainNet, TrainError> {
        if matches!(model.task, Task::Segment(_)) {
            return Err(TrainError::Model("segmentation models cannot be fine-tuned".into()));
        }
        let mut arch = model.arch;
        arch.classes = classes as u32;
        let tf_same = model.arch.padding == mnv2_arch::Padding::TensorFlowSame;
        let mut net = TrainNet::with_padding(arch, batch, tf_same);
        let mut convs: Vec<&ConvWeights> = Vec::new();
        let mut classifier = None;
        for l in &model.layers {
            match l {
                LayerWeights::Stem(w) | LayerWeights::Head(w) => convs.push(w),
                LayerWeights::Bottleneck(b) => {
                    convs.extend(b.expand.iter());
                    convs.push(&b.depthwise);
                    convs.push(&b.project);
                }
                LayerWeights::Classifier(w) => classifier = Some(w),
                LayerWeights::Pool { .. } => {}
            }
        }
        if convs.len() != net.units.len() {
            return Err(TrainError::Model(format!("{} convolutions for {} units", convs.len(), net.units.len())));
        }
        for (i, w) in convs.into_iter().enumerate() {
            net.load_folded(i, w)?;
        }
        if let Some(w) = classifier.filter(|_| classes == model.arch.classes as usize) {
            net.params.tensors[net.fc_w] = w.weights.dequantize()?;
            net.params.tensors[net.fc_b] = w.bias.dequantize()?;
        }
        Ok(net)
    }

    /// Sets unit `i` from a folded convolution: its weights, the batch norm as the identity plus
    /// the folded bias (calibrate before training).
    pub fn load_folded(&mut self, i: usize, w: &ConvWeights) -> Result<(), TrainError> {
        let u = self.units[i].clone();
        let values = w.weights.dequantize()?;
        let bias = w.bias.dequantize()?;
        if values.len() != self.params.tensors[u.w].len() || bias.len() != u.geom.cout {
            return Err(TrainError::Model(format!("{}: weight sizes differ", u.conv_name)));
        }
        self.params.tensors[u.w] = values;
        self.params.tensors[u.gamma] = vec![1.0; u.geom.cout];
        self.params.tensors[u.beta] = bias;
        self.running.mean[u.bn] = vec![0.0; u.geom.cout];
        self.running.var[u.bn] = vec![1.0 - BN_EPS; u.geom.cout];
        Ok(())
    }

    /// Unit `i`'s convolution with its batch norm (running statistics) folded in.
    pub fn fold_unit(&self, i: usize) -> ConvWeights {
        let p = &self.params.tensors;
        let u = &self.units[i];
        let c = u.geom.cout;
        let scale: Vec<f32> = (0..c).map(|ch| p[u.gamma][ch] / (self.running.var[u.bn][ch] + BN_EPS).sqrt()).collect();
        let bias: Vec<f32> = (0..c).map(|ch| p[u.beta][ch] - self.running.mean[u.bn][ch] * scale[ch]).collect();
        let w = &p[u.w];
        let (values, shape) = match u.kind {
            ConvKind::Depthwise => (w.iter().enumerate().map(|(i, v)| v * scale[i % c]).collect(), vec![1, 3, 3, c]),
            ConvKind::Full => {
                let per = w.len() / c;
                (
                    w.iter().enumerate().map(|(i, v)| v * scale[i / per]).collect(),
                    vec![c, u.geom.k, u.geom.k, u.geom.cin],
                )
            }
            ConvKind::Pointwise => {
                (w.iter().enumerate().map(|(i, v)| v * scale[i / u.geom.cin]).collect(), vec![c, 1, 1, u.geom.cin])
            }
        };
        ConvWeights { weights: Tensor::f32(shape, values), bias: Tensor::f32(vec![c], bias), output: None }
    }

    /// The inference model: batch norms (running statistics) folded into the convolutions.
    pub fn to_model(&self, input: InputSpec, labels: Option<Vec<String>>, name: &str) -> Model {
        let p = &self.params.tensors;
        let folded = |i: usize| self.fold_unit(i);
        let mut layers = vec![LayerWeights::Stem(folded(0))];
        for &(first, count, _) in &self.blocks {
            let (expand, dw) = if count == 3 { (Some(folded(first)), first + 1) } else { (None, first) };
            layers.push(LayerWeights::Bottleneck(Box::new(BlockWeights {
                expand,
                depthwise: folded(dw),
                project: folded(dw + 1),
                add_output: None,
            })));
        }
        layers.push(LayerWeights::Head(folded(self.head_unit)));
        layers.push(LayerWeights::Pool { kind: PoolKind::Mean, output: None });
        let classes = self.arch.classes as usize;
        let dim = p[self.fc_w].len() / classes;
        layers.push(LayerWeights::Classifier(ConvWeights {
            weights: Tensor::f32(vec![classes, dim], p[self.fc_w].clone()),
            bias: Tensor::f32(vec![classes], p[self.fc_b].clone()),
            output: None,
        }));
        let input = InputSpec { quant: None, requantized: None, signed: false, ..input };
        Model {
            arch: self.arch,
            layers,
            task: Task::Classify,
            input,
            output: OutputKind::Logits,
            labels,
            name: name.into(),
        }
    }
}
