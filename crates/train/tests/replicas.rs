//! Data-parallel training without MPI: processes simulated by threads (`replicas::threads`),
//! each on a one-thread pool with its shard of the batch, against one network on a pool of as
//! many threads with the whole batch. Synchronised batch norm, the gradients summed across
//! replicas and the loss scaled by the whole batch give the same parameters and running
//! statistics, bit for bit, after several steps.

use mnv2_arch::Arch;
use mnv2_train::TrainNet;
use mnv2_train::data::Rng;
use mnv2_train::replicas::{shard, threads::group};
use std::sync::Arc;

const STEPS: usize = 3;

/// Random images and labels for `STEPS` batches of `batch` at `size` pixels.
fn batches(batch: usize, size: usize, classes: usize) -> Vec<(Vec<f32>, Vec<usize>)> {
    let mut rng = Rng(42);
    (0..STEPS)
        .map(|_| {
            let x = (0..batch * size * size * 3).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let y = (0..batch).map(|_| (rng.next_u64() % classes as u64) as usize).collect();
            (x, y)
        })
        .collect()
}

/// `STEPS` steps of plain SGD on `net` over the examples `part` of each batch.
fn train(net: &mut TrainNet, data: &[(Vec<f32>, Vec<usize>)], part: std::ops::Range<usize>, pixels: usize) {
    for (x, y) in data {
        let x = &x[part.start * pixels..part.end * pixels];
        let (_, _, g) = net.loss_and_grads(x, &y[part.clone()], 0.1);
        for (p, g) in net.params.tensors.iter_mut().zip(&g.tensors) {
            p.iter_mut().zip(g).for_each(|(p, g)| *p -= 0.05 * g);
        }
        net.recycle(g);
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Parameters and running statistics, as bits.
fn state(net: &TrainNet) -> Vec<u32> {
    let all = net.params.tensors.iter().chain(&net.running.mean).chain(&net.running.var);
    all.flat_map(|t| t.iter().map(|v| v.to_bits())).collect()
}

fn check(processes: usize, batch: usize) {
    let (size, classes) = (64, 3);
    let arch = Arch::new(0.35, size as u32, classes as u32).unwrap();
    let data = batches(batch, size, classes);
    let pixels = size * size * 3;
    let whole = pool(processes).install(|| {
        let mut net = TrainNet::new(arch, batch);
        net.init_random(7);
        train(&mut net, &data, 0..batch, pixels);
        state(&net)
    });
    let shards: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = group(processes)
            .into_iter()
            .enumerate()
            .map(|(i, replica)| {
                let (arch, data) = (arch, &data);
                s.spawn(move || {
                    pool(1).install(|| {
                        let mut net = TrainNet::new(arch, batch / processes);
                        net.init_random(7);
                        net.set_replicas(Arc::new(replica));
                        train(&mut net, data, shard(batch, processes, i), pixels);
                        state(&net)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, s) in shards.iter().enumerate() {
        assert!(*s == whole, "replica {i} of {processes} differs from one process of {processes} threads");
    }
    // A single thread sums in another order, so the comparison above is not vacuous.
    let alone = pool(1).install(|| {
        let mut net = TrainNet::new(arch, batch);
        net.init_random(7);
        train(&mut net, &data, 0..batch, pixels);
        state(&net)
    });
    assert!(alone != whole, "one thread gave the bits of {processes}");
}

#[test]
fn two_replicas_equal_two_threads() {
    check(2, 4);
}

#[test]
fn three_replicas_equal_three_threads() {
    check(3, 6);
}
