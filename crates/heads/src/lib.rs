//! Task heads on top of the network's output: classification today (top-k and labels).

pub mod classify;

pub use classify::{LabelError, Labels, Prediction, top_k};
