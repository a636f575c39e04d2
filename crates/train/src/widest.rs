//! The training layers' loops are plain Rust that the compiler vectorises; this crate is built for
//! the baseline x86-64 (SSE2), so [`widest!`] compiles such a loop also for AVX2 and AVX-512 and
//! runs the widest the CPU has (`Isa::detect`, so `MNV2_ISA` limits it too). Wider vectors do
//! the same operations on each element in the same order (no fused multiply-adds: Rust never
//! contracts a multiply and an add), so every level gives the same bits.

/// `fn name(args) body`, compiled three times on x86-64 and dispatched at run time.
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                use mnv2_kernels::Isa;
                /// # Safety
                /// The CPU must have AVX-512 F, BW and VL, AVX2 and FMA.
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                /// # Safety
                /// The CPU must have AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                match Isa::detect() {
                    // SAFETY: detect() returns only levels the CPU has.
                    Isa::Avx512 | Isa::Avx512Vnni => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above: the CPU has AVX2 and FMA.
                    Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    _ => {}
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use widest;
