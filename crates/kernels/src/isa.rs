//! Instruction-set choice: detected once, overridable with `MNV2_ISA`.

use std::sync::OnceLock;

/// The instruction set a kernel call runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust, any CPU.
    Scalar,
    /// x86-64 AVX2 with FMA.
    Avx2,
}

/// `is_x86_feature_detected!` on x86-64, false elsewhere.
macro_rules! cpu_has {
    ($feature:tt) => {{
        #[cfg(target_arch = "x86_64")]
        let on = is_x86_feature_detected!($feature);
        #[cfg(not(target_arch = "x86_64"))]
        let on = false;
        on
    }};
}

/// A CPU-feature flag detected once: `$base` (a weaker flag it implies, or true) and the feature.
macro_rules! feature_flag {
    ($(#[$doc:meta])* $name:ident = $base:expr, $feature:tt) => {
        $(#[$doc])*
        pub fn $name() -> bool {
            static ON: OnceLock<bool> = OnceLock::new();
            *ON.get_or_init(|| $base && cpu_has!($feature))
        }
    };
}

feature_flag!(
    /// Whether the kernels of [`Isa::Avx2`] may also use AVX-512F registers (detected once;
    /// `MNV2_AVX512=0` turns it off). Results are identical either way.
    has_avx512 = std::env::var("MNV2_AVX512").as_deref() != Ok("0"), "avx512f"
);
feature_flag!(
    /// [`has_avx512`] and the byte/word instructions of AVX-512BW with their 128/256-bit forms
    /// (AVX-512VL: masked byte stores) — the integer kernels.
    has_avx512_bw = has_avx512() && cpu_has!("avx512vl"), "avx512bw"
);
feature_flag!(
    /// [`has_avx512_bw`] and AVX-512 VNNI (`vpdpbusd`: four u8 x i8 products summed into each
    /// 32-bit lane in one instruction).
    has_avx512_vnni = has_avx512_bw(), "avx512vnni"
);
feature_flag!(
    /// [`has_avx512_bw`] and AVX-512 VBMI (`vpermb`, `vpermt2b`: bytes from any of 64 or 128).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // asked by x86-64 paths only
    has_avx512_vbmi = has_avx512_bw(), "avx512vbmi"
);
feature_flag!(
    /// [`has_avx512_vnni`] and AVX-512 VBMI (`vpermb`: any byte of a zmm to any position).
    has_avx512_vnni_vbmi = has_avx512_vnni(), "avx512vbmi"
);

impl Isa {
    /// The best instruction set this CPU supports, unless `MNV2_ISA` asks for another
    /// (`scalar` always works; `avx2` is honoured only where the CPU has it).
    pub fn detect() -> Isa {
        static CHOICE: OnceLock<Isa> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            let best = if Isa::Avx2.available() { Isa::Avx2 } else { Isa::Scalar };
            match std::env::var("MNV2_ISA").as_deref() {
                Ok("scalar") => Isa::Scalar,
                Ok("avx2") if Isa::Avx2.available() => Isa::Avx2,
                _ => best,
            }
        })
    }

    /// Whether this CPU can run kernels of this instruction set.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
        }
    }

    /// Every instruction set this CPU can run (for tests and benchmarks).
    pub fn all_available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2].into_iter().filter(|i| i.available()).collect()
    }

    /// This instruction set if the CPU has it, else the portable one: what kernels actually run.
    pub fn or_scalar(self) -> Isa {
        if self.available() { self } else { Isa::Scalar }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 if has_avx512() => "avx2+fma+avx512",
            Isa::Avx2 => "avx2+fma",
        }
    }
}
