//! Instruction-set levels: each a superset of the one before it, detected once and overridable
//! with `MNV2_ISA=<level>` (any level at or below the CPU's). Kernels are chosen by the level a
//! call is given, never by a flag read elsewhere, so one process can run (and test, and bench)
//! every level its CPU has.

use std::sync::OnceLock;

/// An instruction-set level, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust, any CPU.
    Scalar,
    /// x86-64 AVX2 with FMA (Haswell, Zen).
    Avx2,
    /// AVX-512 F, BW and VL (Skylake-X, Zen 4): 16-float and 64-byte registers, masked stores.
    Avx512,
    /// AVX-512 with VNNI (`vpdpbusd`: four u8 x i8 products per 32-bit lane) and VBMI (`vpermb`:
    /// any byte to any position) (Ice Lake, Sapphire Rapids, Zen 4).
    Avx512Vnni,
}

/// `is_x86_feature_detected!` of every feature named, on x86-64; false elsewhere.
macro_rules! cpu_has {
    ($($feature:tt),+) => {{
        #[cfg(target_arch = "x86_64")]
        let on = $(is_x86_feature_detected!($feature))&&+;
        #[cfg(not(target_arch = "x86_64"))]
        let on = false;
        on
    }};
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni];

    /// The level kernels run at: the best this CPU has, or `MNV2_ISA` (`scalar`, `avx2`,
    /// `avx512`, `avx512-vnni`) where the CPU has that level.
    pub fn detect() -> Isa {
        static CHOICE: OnceLock<Isa> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            let best = Isa::best();
            match std::env::var("MNV2_ISA").ok().and_then(|name| Isa::parse(&name)) {
                Some(asked) if asked <= best => asked,
                _ => best,
            }
        })
    }

    /// The best level this CPU has.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| Isa::ALL.into_iter().rev().find(|i| i.cpu_has()).unwrap_or(Isa::Scalar))
    }

    /// The level named `name` (as [`Isa::name`] writes it).
    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether this CPU has every instruction of this level.
    fn cpu_has(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => cpu_has!("avx2", "fma"),
            Isa::Avx512 => Isa::Avx2.cpu_has() && cpu_has!("avx512f", "avx512bw", "avx512vl"),
            Isa::Avx512Vnni => Isa::Avx512.cpu_has() && cpu_has!("avx512vnni", "avx512vbmi"),
        }
    }

    /// Whether this CPU can run kernels of this level.
    pub fn available(self) -> bool {
        self <= Isa::best()
    }

    /// Every level this CPU can run, lowest first (for tests and benchmarks).
    pub fn all_available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.available()).collect()
    }

    /// This level if the CPU has it, else the best it has below: what kernels actually run.
    pub fn or_scalar(self) -> Isa {
        self.min(Isa::best())
    }

    /// Whether a call at this level may use kernels of `level` (it is `level` or above, and the
    /// CPU has it).
    pub fn has(self, level: Isa) -> bool {
        self.or_scalar() >= level
    }

    /// The level's name, as `MNV2_ISA` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512-vnni",
        }
    }
}

/// The variant of a kernel family a call at `isa` runs: the highest of `variants` (the levels
/// the family has its own code for, lowest first, starting with [`Isa::Scalar`]) at or below it.
pub fn pick(variants: &[Isa], isa: Isa) -> Isa {
    let isa = isa.or_scalar();
    variants.iter().copied().filter(|&v| v <= isa).max().unwrap_or(Isa::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_named_and_picked_from_below() {
        assert!(Isa::Scalar < Isa::Avx2 && Isa::Avx2 < Isa::Avx512 && Isa::Avx512 < Isa::Avx512Vnni);
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert!(Isa::all_available().contains(&Isa::Scalar));
        assert!(Isa::detect().available());
        // A family with scalar and AVX2 code runs its AVX2 code at every level above.
        let family = [Isa::Scalar, Isa::Avx2];
        assert_eq!(pick(&family, Isa::Scalar), Isa::Scalar);
        for isa in Isa::all_available().into_iter().filter(|&i| i >= Isa::Avx2) {
            assert_eq!(pick(&family, isa), Isa::Avx2);
        }
    }
}
