//! Criterion benchmarks of the kernel cases in `bench::cases` on the CPU (`cargo bench -p bench`;
//! all but the large ones), with throughput in FLOP or bytes so criterion reports GFLOP/s-like
//! rates.

use bench::cases::{Work, kernel_cases};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tensor::Device;

fn kernels(c: &mut Criterion) {
    for case in kernel_cases().into_iter().filter(|c| !c.is_large()) {
        let mut group = c.benchmark_group(case.group());
        group.sample_size(10);
        group.throughput(match case.work() {
            Work::Flops(n) => Throughput::Elements(n),
            Work::Bytes(n) => Throughput::Bytes(n),
        });
        let mut run = case
            .prepare(Device::Cpu)
            .expect("CPU inputs need no device");
        group.bench_function(case.id(), |b| b.iter(&mut run));
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
