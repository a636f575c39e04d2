//! The training's loops are compiled for each x86 vector level (`widest!`) and the kernels it
//! calls have a variant per level; a lower level must train the same bits. This test runs a few
//! steps itself and again in a child process with `MNV2_ISA=avx2` (the level only the
//! environment can lower, once per process), and compares the parameters bit for bit.

use mnv2_arch::Arch;
use mnv2_kernels::Isa;
use mnv2_train::TrainNet;
use mnv2_train::data::Rng;
use std::process::Command;

/// FNV-1a of the parameters and running statistics after three SGD steps on random data.
fn trained_bits() -> u64 {
    let (size, classes, batch) = (64, 3, 4);
    let mut net = TrainNet::new(Arch::new(0.35, size as u32, classes as u32).unwrap(), batch);
    net.init_random(3);
    let mut rng = Rng(11);
    for _ in 0..3 {
        let x: Vec<f32> = (0..batch * size * size * 3).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let y: Vec<usize> = (0..batch).map(|_| (rng.next_u64() % classes as u64) as usize).collect();
        let (_, _, g) = net.loss_and_grads(&x, &y, 0.1);
        for (p, g) in net.params.tensors.iter_mut().zip(&g.tensors) {
            p.iter_mut().zip(g).for_each(|(p, g)| *p -= 0.05 * g);
        }
    }
    let all = net.params.tensors.iter().chain(&net.running.mean).chain(&net.running.var);
    all.flat_map(|t| t.iter().map(|v| v.to_bits()))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[test]
fn avx2_trains_the_bits_of_the_best_level() {
    if std::env::var_os("MNV2_ISA_CHILD").is_some() {
        println!("trained bits {:016x}", trained_bits());
        return;
    }
    if !matches!(Isa::best(), Isa::Avx512 | Isa::Avx512Vnni) {
        eprintln!("skipped: this CPU's best level is {:?}, nothing above AVX2 to compare", Isa::best());
        return;
    }
    let own = format!("trained bits {:016x}", trained_bits());
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "avx2_trains_the_bits_of_the_best_level", "--nocapture", "--test-threads", "1"])
        .env("MNV2_ISA", "avx2")
        .env("MNV2_ISA_CHILD", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    let at = out.find("trained bits").unwrap_or_else(|| panic!("the child said: {out}"));
    let line = out[at..].lines().next().unwrap_or_default();
    assert_eq!(line, own, "AVX2 trained other bits than {:?}", Isa::best());
}
