//! Parsers for command-line values that are checked as they are parsed, so that a bad value is
//! refused before any work starts (and never reaches a division or an allocation).

use mnv2::Limits;

/// A count of at least 1 (batch sizes, epochs, iterations).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A worker-thread count: 0 (one per core) up to the process-wide limit (4 per core).
pub fn threads(s: &str) -> Result<usize, String> {
    let n = s.parse::<usize>().map_err(|_| format!("{s:?} is not a whole number"))?;
    Limits::global().threads(n).map_err(|e| e.to_string())?;
    Ok(n)
}

fn finite(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a finite number")),
    }
}

/// A learning rate: finite and above 0.
pub fn positive(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v > 0.0 { Ok(v) } else { Err("must be above 0".into()) }
}

/// Weight decay: finite and at least 0.
pub fn non_negative(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v >= 0.0 { Ok(v) } else { Err("must be at least 0".into()) }
}

/// A fraction in [0, 1) (label smoothing, held-out share).
pub fn fraction(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err("must be at least 0 and below 1".into()) }
}

/// A part of an area: above 0 and at most 1.
pub fn area_fraction(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v > 0.0 && v <= 1.0 { Ok(v) } else { Err("must be above 0 and at most 1".into()) }
}

/// A moving-average decay in (0, 1).
pub fn decay(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v > 0.0 && v < 1.0 { Ok(v) } else { Err("must be above 0 and below 1".into()) }
}

/// A probability threshold in [0, 1].
pub fn probability(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err("must be between 0 and 1".into()) }
}

/// The zoom-out factor of detector training: 1 (off) to 8.
pub fn zoom(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (1.0..=8.0).contains(&v) { Ok(v) } else { Err("must be between 1 and 8".into()) }
}

/// A crop fraction in (0, 1].
pub fn crop(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v > 0.0 && v <= 1.0 { Ok(v) } else { Err("must be above 0 and at most 1".into()) }
}

/// A `--preprocess` choice: None for `auto` (the model's own).
#[derive(Debug, Clone, Copy)]
pub struct PreprocessChoice(pub Option<mnv2::engine::Preprocess>);

/// `auto`, `crop-resize` or `resize-crop`.
pub fn preprocess(s: &str) -> Result<PreprocessChoice, String> {
    mnv2::parse_preprocess(s).map(PreprocessChoice)
}

/// A size in bytes, with an optional K, M, G or T suffix (powers of 1024): `512M`, `8G`.
pub fn bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        Some((i, 't' | 'T')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 512M, 8G)"))?;
    n.checked_mul(1 << shift).filter(|&v| v > 0).ok_or_else(|| format!("{s:?} is not a size above 0"))
}

/// A pixel count, with an optional K or M suffix (powers of 1000 would surprise: 1024 as for bytes).
pub fn pixels(s: &str) -> Result<u64, String> {
    bytes(s).map_err(|_| format!("{s:?} is not a pixel count (e.g. 67108864 or 64M)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_are_refused() {
        assert!(at_least_one("0").is_err() && at_least_one("x").is_err() && at_least_one("3") == Ok(3));
        for bad in ["NaN", "inf", "-1", "0", "x"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(positive("3e-4"), Ok(3e-4));
        assert!(fraction("1").is_err() && fraction("-0.1").is_err() && fraction("0") == Ok(0.0));
        assert!(decay("1").is_err() && decay("2").is_err() && decay("0").is_err() && decay("0.999") == Ok(0.999));
        assert!(non_negative("-1e-5").is_err() && non_negative("0") == Ok(0.0));
        assert!(threads("100000").is_err() && threads("0") == Ok(0) && threads("1") == Ok(1));
        assert_eq!(bytes("8G"), Ok(8 << 30));
        assert_eq!(bytes("512m"), Ok(512 << 20));
        assert_eq!(bytes("1000"), Ok(1000));
        assert!(bytes("0").is_err() && bytes("99999999999T").is_err() && bytes("G").is_err());
    }
}
