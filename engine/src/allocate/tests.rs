//! Tests of the `allocate` module.

use super::*;

fn machine(cpus: usize, mem_gib: f64, cpu_usage: f32, load: f64) -> SystemSnapshot {
    SystemSnapshot {
        logical_cpus: cpus,
        physical_cpus: cpus.div_ceil(2),
        total_memory_bytes: (mem_gib * GIB) as u64,
        available_memory_bytes: (mem_gib * 0.8 * GIB) as u64,
        cpu_usage_percent: cpu_usage,
        load_average_1m: load,
    }
}

/// The estimate for one 720p encoder (~180 MiB).
const ENCODER: u64 = 96 * 1024 * 1024 + 96 * 1280 * 720;

fn video() -> MediaInfo {
    // 10 minutes of 720p at 2 Mbit/s: 15 MB per minute, complexity 4/15 → clamped 0.5.
    MediaInfo {
        duration: 600.0,
        width: 1280,
        height: 720,
        fps: 25.0,
        size_bytes: 150_000_000,
        ..Default::default()
    }
}

fn workers(strategy: &str, s: &SystemSnapshot, clips: usize) -> usize {
    allocate(strategy.parse().unwrap(), s, &video(), clips, ENCODER).workers
}

#[test]
fn parse_and_display_round_trip() {
    for s in Strategy::NAMED.into_iter().chain([Strategy::Fixed(3)]) {
        assert_eq!(s.to_string().parse::<Strategy>(), Ok(s));
    }
    assert!("fixed:0".parse::<Strategy>().is_err());
    assert!("fast".parse::<Strategy>().is_err());
}

#[test]
fn simple_strategies() {
    let m8 = machine(8, 16.0, 10.0, 0.5);
    assert_eq!(workers("serial", &m8, 24), 1);
    assert_eq!(workers("fixed:5", &m8, 24), 5);
    assert_eq!(
        workers("fixed:5", &m8, 2),
        2,
        "never more workers than clips"
    );
    assert_eq!(workers("cores", &m8, 24), 8);
    assert_eq!(workers("cores-minus-one", &m8, 24), 7);
    assert_eq!(
        workers("cores-minus-one", &machine(1, 4.0, 0.0, 0.0), 24),
        1
    );
    let ff = allocate(Strategy::FfmpegThreads, &m8, &video(), 24, ENCODER);
    assert_eq!((ff.workers, ff.ffmpeg_threads), (1, ThreadSetting::Auto));
}

#[test]
fn python_optimized_formula() {
    // 2 cores: max(1, 2 - 2) = 1 worker, as the design notes say.
    assert_eq!(
        workers("python-optimized", &machine(2, 24.0, 5.0, 0.1), 24),
        1
    );
    // 8 cores, idle: cpu 6, memory (16-2)/0.5 = 28, cap 10 → 6.
    assert_eq!(
        workers("python-optimized", &machine(8, 16.0, 5.0, 0.1), 24),
        6
    );
    // 8 cores, busy: cpu halved to 3.
    assert_eq!(
        workers("python-optimized", &machine(8, 16.0, 95.0, 7.0), 24),
        3
    );
    // 64 cores, big memory: capped at 16.
    assert_eq!(
        workers("python-optimized", &machine(64, 256.0, 5.0, 1.0), 100),
        16
    );
    // 64 cores, 3 GiB: memory_based = int(1 / 0.5) = 2.
    assert_eq!(
        workers("python-optimized", &machine(64, 3.0, 5.0, 1.0), 100),
        2
    );
    // Never more than the clips.
    assert_eq!(
        workers("python-optimized", &machine(64, 256.0, 5.0, 1.0), 4),
        4
    );
}

#[test]
fn adaptive_formula() {
    let light = MediaInfo {
        size_bytes: 20_000_000, // 2 MB per minute → complexity 2.0
        ..video()
    };
    let alloc =
        |s: &SystemSnapshot, m: &MediaInfo| allocate(Strategy::Adaptive, s, m, 100, ENCODER);
    // 8 cores idle, 16 GiB (12.8 available → 6): min(7, 6) × 1.0 × 0.5 = 3.
    assert_eq!(alloc(&machine(8, 16.0, 5.0, 1.0), &video()).workers, 3);
    // Same machine, light video: 6 × 2.0 = 12.
    assert_eq!(alloc(&machine(8, 16.0, 5.0, 1.0), &light).workers, 12);
    // Fully loaded: load factor 0.7 → round(6 × 0.7 × 2.0) = 8.
    assert_eq!(alloc(&machine(8, 16.0, 95.0, 8.0), &light).workers, 8);
    // 2 cores: min(1, …) × 1.0 × 0.5 → at least 1.
    assert_eq!(alloc(&machine(2, 24.0, 5.0, 0.0), &video()).workers, 1);
    // 64 cores, small memory (4 GiB, 3.2 available → 1).
    assert_eq!(alloc(&machine(64, 4.0, 5.0, 0.0), &light).workers, 2);
    // 64 cores, large memory: capped at 16.
    assert_eq!(alloc(&machine(64, 256.0, 5.0, 0.0), &light).workers, 16);
    assert_eq!(
        alloc(&machine(64, 256.0, 5.0, 0.0), &light).ffmpeg_threads,
        ThreadSetting::Fixed(1)
    );
}

#[test]
fn load_factor_bounds() {
    assert_eq!(load_factor(&machine(4, 8.0, 0.0, 0.0)), 1.0);
    assert_eq!(load_factor(&machine(4, 8.0, 0.0, 2.0)), 1.0);
    assert!((load_factor(&machine(4, 8.0, 0.0, 3.0)) - 0.85).abs() < 1e-9);
    assert_eq!(load_factor(&machine(4, 8.0, 0.0, 40.0)), 0.7);
}

#[test]
fn auto_uses_every_core_within_memory() {
    let a = allocate(
        Strategy::Auto,
        &machine(2, 24.0, 5.0, 0.0),
        &video(),
        24,
        ENCODER,
    );
    assert_eq!((a.workers, a.ffmpeg_threads), (2, ThreadSetting::Fixed(1)));
    let a = allocate(
        Strategy::Auto,
        &machine(64, 256.0, 5.0, 0.0),
        &video(),
        100,
        ENCODER,
    );
    assert_eq!((a.workers, a.ffmpeg_threads), (64, ThreadSetting::Fixed(1)));
    // 8 cores, 1 GiB (0.8 available, 90 % of it at ~180 MiB per encoder): 4 workers, 2 threads.
    let a = allocate(
        Strategy::Auto,
        &machine(8, 1.0, 5.0, 0.0),
        &video(),
        24,
        ENCODER,
    );
    assert_eq!((a.workers, a.ffmpeg_threads), (4, ThreadSetting::Fixed(2)));
    // A measured 500 MiB per encoder on the same machine: 1 worker, 8 threads.
    let a = allocate(
        Strategy::Auto,
        &machine(8, 1.0, 5.0, 0.0),
        &video(),
        24,
        500 << 20,
    );
    assert_eq!((a.workers, a.ffmpeg_threads), (1, ThreadSetting::Fixed(8)));
    // Fewer clips than cores: spare cores become threads.
    let a = allocate(
        Strategy::Auto,
        &machine(8, 16.0, 5.0, 0.0),
        &video(),
        2,
        ENCODER,
    );
    assert_eq!((a.workers, a.ffmpeg_threads), (2, ThreadSetting::Fixed(4)));
}
