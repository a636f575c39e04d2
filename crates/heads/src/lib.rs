//! Task heads on top of the network's output: classification (top-k and labels) and semantic
//! segmentation (class maps, PASCAL VOC classes and colours, IoU) and SSD detection (anchors, box
//! decoding, NMS).

pub mod classify;
pub mod segment;

pub use classify::{LabelError, Labels, Prediction, top_k};
pub use segment::{ClassMap, IouCounter, PASCAL_VOC, palette};
pub mod detect;
pub mod detect_eval;
pub mod ssd_targets;
pub use detect::{AnchorSpec, BoxCorners, Detection, NmsConfig};
