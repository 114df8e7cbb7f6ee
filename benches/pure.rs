//! Criterion benchmarks of the pure parts: planning and allocation.

use std::hint::black_box;

use clipbench_engine::{allocate, plan, MediaInfo, PlanOptions, Policy, Strategy, SystemSnapshot};
use criterion::{criterion_group, criterion_main, Criterion};

fn ten_minutes() -> MediaInfo {
    MediaInfo {
        duration: 600.0,
        width: 1280,
        height: 720,
        fps: 25.0,
        size_bytes: 80_000_000,
        ..Default::default()
    }
}

fn bench_plan(c: &mut Criterion) {
    let media = ten_minutes();
    let long = MediaInfo {
        duration: 36_000.0,
        ..ten_minutes()
    };
    for (name, policy) in [("fixed", Policy::ORIGINAL), ("adaptive", Policy::Adaptive)] {
        let options = PlanOptions {
            policy,
            ..Default::default()
        };
        c.bench_function(&format!("plan/{name}/10min"), |b| {
            b.iter(|| plan(black_box(&media), black_box(&options)))
        });
        c.bench_function(&format!("plan/{name}/10h"), |b| {
            b.iter(|| plan(black_box(&long), black_box(&options)))
        });
    }
}

fn bench_allocate(c: &mut Criterion) {
    let media = ten_minutes();
    let system = SystemSnapshot {
        logical_cpus: 64,
        physical_cpus: 32,
        total_memory_bytes: 256 << 30,
        available_memory_bytes: 200 << 30,
        cpu_usage_percent: 20.0,
        load_average_1m: 8.0,
    };
    for strategy in Strategy::NAMED {
        c.bench_function(&format!("allocate/{strategy}"), |b| {
            b.iter(|| {
                allocate(
                    black_box(strategy),
                    black_box(&system),
                    black_box(&media),
                    24,
                    black_box(180 << 20),
                )
            })
        });
    }
}

criterion_group!(benches, bench_plan, bench_allocate);
criterion_main!(benches);
