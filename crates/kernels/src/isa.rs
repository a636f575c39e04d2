//! Instruction-set levels, detected once and overridable with `MNV2_ISA=<level>` (any level at
//! or below the CPU's). Each architecture has its own chain of levels, each a superset of the one
//! before it (x86-64: AVX2, AVX-512, AVX-512 VNNI; aarch64: NEON; wasm32: SIMD128), all above
//! the portable code:
//! levels of different chains are not ordered. Kernels are chosen by the level a call is given,
//! never by a flag read elsewhere, so one process can run (and test, and bench) every level its
//! CPU has.

use std::cmp::Ordering;
use std::sync::OnceLock;

/// An instruction-set level; ordered within its architecture's chain (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust, any CPU.
    Scalar,
    /// x86-64 AVX2 with FMA, BMI1 and BMI2 (Haswell, Zen).
    Avx2,
    /// AVX-512 F, BW and VL (Skylake-X, Zen 4): 16-float and 64-byte registers, masked stores.
    Avx512,
    /// AVX-512 with VNNI (`vpdpbusd`: four u8 x i8 products per 32-bit lane) and VBMI (`vpermb`:
    /// any byte to any position) (Ice Lake, Sapphire Rapids, Zen 4).
    Avx512Vnni,
    /// aarch64 Advanced SIMD (NEON, part of every ARMv8-A core): 32 128-bit registers with FMA.
    Neon,
    /// WebAssembly's 128-bit SIMD (every current browser and Node.js): i32x4 dot products of
    /// i16 pairs, no fused multiply-add.
    Simd128,
    /// WebAssembly's relaxed SIMD on top of SIMD128 (Chrome 114+, Firefox 120+; not Safari):
    /// `f32x4.relaxed_madd`, a fused multiply-add where the CPU has one. Only in a module built
    /// with `-C target-feature=+relaxed-simd` (`tools/web.sh` makes both builds; the page loads
    /// the one the browser validates).
    RelaxedSimd,
}

/// The architectures whose levels form a chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// The portable code: below every chain.
    Any,
    X86,
    Arm,
    Wasm,
}

impl Isa {
    /// The chain of this level and its rank in it (the portable code ranks 0 in all).
    fn rank(self) -> (Chain, u8) {
        match self {
            Isa::Scalar => (Chain::Any, 0),
            Isa::Avx2 => (Chain::X86, 1),
            Isa::Avx512 => (Chain::X86, 2),
            Isa::Avx512Vnni => (Chain::X86, 3),
            Isa::Neon => (Chain::Arm, 1),
            Isa::Simd128 => (Chain::Wasm, 1),
            Isa::RelaxedSimd => (Chain::Wasm, 2),
        }
    }
}

impl PartialOrd for Isa {
    /// `a < b` when `b` has every instruction of `a`: within a chain, or `a` the portable code.
    fn partial_cmp(&self, other: &Isa) -> Option<Ordering> {
        let ((ca, ra), (cb, rb)) = (self.rank(), other.rank());
        (ca == cb || ca == Chain::Any || cb == Chain::Any).then(|| ra.cmp(&rb))
    }
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
    pub const ALL: [Isa; 7] =
        [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon, Isa::Simd128, Isa::RelaxedSimd];

    /// The level kernels run at: the best this CPU has, or `MNV2_ISA` (`scalar`, `avx2`,
    /// `avx512`, `avx512-vnni`, `neon`, `simd128`, `relaxed-simd`) where the CPU has that level.
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
            Isa::Avx2 => cpu_has!("avx2", "fma", "bmi1", "bmi2"),
            Isa::Avx512 => Isa::Avx2.cpu_has() && cpu_has!("avx512f", "avx512bw", "avx512vl"),
            Isa::Avx512Vnni => Isa::Avx512.cpu_has() && cpu_has!("avx512vnni", "avx512vbmi"),
            Isa::Neon => cfg!(target_arch = "aarch64"),
            // WebAssembly cannot ask at run time: the module is built for engines with SIMD128
            // (every current browser and Node.js), and one without it refuses to load it.
            Isa::Simd128 => cfg!(target_arch = "wasm32"),
            Isa::RelaxedSimd => cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")),
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

    /// This level if the CPU has it, else the best it has below (the portable code for a level
    /// of another architecture): what kernels actually run.
    pub fn or_scalar(self) -> Isa {
        let best = Isa::best();
        if self <= best {
            self
        } else if best <= self {
            best
        } else {
            Isa::Scalar
        }
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
            Isa::Neon => "neon",
            Isa::Simd128 => "simd128",
            Isa::RelaxedSimd => "relaxed-simd",
        }
    }
}

/// The variant of a kernel family a call at `isa` runs: the highest of `variants` (the levels
/// the family has its own code for, lowest first, starting with [`Isa::Scalar`]) at or below it.
pub fn pick(variants: &[Isa], isa: Isa) -> Isa {
    let isa = isa.or_scalar();
    // Those at or below `isa` are all of its chain (or portable), so they are ordered.
    variants.iter().copied().filter(|&v| v <= isa).fold(Isa::Scalar, |best, v| if v > best { v } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_named_and_picked_from_below() {
        assert!(Isa::Scalar < Isa::Avx2 && Isa::Avx2 < Isa::Avx512 && Isa::Avx512 < Isa::Avx512Vnni);
        // NEON is above the portable code and beside, not above or below, the x86 levels.
        assert!(Isa::Scalar < Isa::Neon && Isa::Scalar < Isa::Simd128);
        assert_eq!(Isa::Neon.partial_cmp(&Isa::Simd128), None);
        for x86 in [Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni] {
            assert_eq!(x86.partial_cmp(&Isa::Neon), None, "{x86:?}");
            assert_eq!(x86.partial_cmp(&Isa::Simd128), None, "{x86:?}");
            assert_eq!(pick(&[Isa::Scalar, Isa::Neon, Isa::Simd128], x86), Isa::Scalar);
        }
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
