//! TensorFlow frozen GraphDef import (Object Detection API SSDLite-MobileNetV2).

mod graph;
mod map;
mod proto;

pub use map::load_tf_graph;
