//! 8-bit integer kernels with TFLite's exact arithmetic.
//!
//! Activations are stored as `u8` whatever the model's type: an int8 tensor with zero point `z`
//! is the same numbers as a uint8 tensor with zero point `z + 128` (`q_u8 = q_i8 + 128`), and every
//! TFLite integer kernel used here computes identical results in that representation (they only
//! ever use `q - zero_point`, clamp to a shifted range, or take differences). Weights are kept as
//! `i16` values with their zero point already subtracted.

pub mod add;
pub mod conv;
pub mod dwconv;
pub mod gemm;
pub mod pool;
pub mod requant;
pub mod requant_vec;
pub mod softmax;

pub use requant::{OutputStage, Requant, Rounding, multiply_by_quantized_multiplier, quantize_multiplier};
