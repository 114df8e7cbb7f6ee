//! System sampling with sysinfo: one [`snapshot`] for strategies, and a background [`Monitor`]
//! that records CPU and memory use while a run is under way.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::allocate::SystemSnapshot;

/// A sysinfo handle for CPU use and memory; `None` where sysinfo cannot read this system.
fn new_system() -> Option<System> {
    System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .ok()
}

fn load_average_1m() -> f64 {
    System::load_average().map(|l| l.one).unwrap_or(0.0)
}

/// Memory available right now, in bytes (0 where sysinfo cannot read it).
pub fn available_memory_bytes() -> u64 {
    System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .map(|system| system.available_memory())
    .unwrap_or(0)
}

/// Reads the machine now, with a CPU-use sample over `cpu_sample` (the optimized backend uses
/// 0.1 s; sysinfo needs at least its own minimum interval between two readings, 200 ms on
/// Linux). `Duration::ZERO` takes no sample and reads CPU use as zero: nothing waits.
/// Where sysinfo cannot read the system, the CPU count comes from the standard library and
/// memory and load read as zero.
pub fn snapshot(cpu_sample: Duration) -> SystemSnapshot {
    let fallback_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(mut system) = new_system() else {
        return SystemSnapshot {
            logical_cpus: fallback_cpus,
            physical_cpus: fallback_cpus,
            total_memory_bytes: 0,
            available_memory_bytes: 0,
            cpu_usage_percent: 0.0,
            load_average_1m: 0.0,
        };
    };
    let cpu_usage_percent = if cpu_sample.is_zero() {
        0.0
    } else {
        std::thread::sleep(cpu_sample.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
        system.refresh_cpu_usage();
        system.global_cpu_usage()
    };
    system.refresh_memory();
    // The CPUs this process may use (an affinity mask or a container limit), at most those
    // the machine has.
    let logical_cpus = match system.cpus().len() {
        0 => fallback_cpus,
        n => n.min(fallback_cpus),
    };
    SystemSnapshot {
        logical_cpus,
        physical_cpus: System::physical_core_count().map_or(logical_cpus, |p| p.min(logical_cpus)),
        total_memory_bytes: system.total_memory(),
        available_memory_bytes: system.available_memory(),
        cpu_usage_percent,
        load_average_1m: load_average_1m(),
    }
}

/// One reading of the background sampler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSample {
    /// Seconds since the monitor started.
    pub at_s: f64,
    /// Overall CPU use, 0–100.
    pub cpu_percent: f32,
    /// CPU use of each logical CPU, 0–100.
    pub per_cpu_percent: Vec<f32>,
    pub memory_used_bytes: u64,
    pub load_average_1m: f64,
}

/// What the sampler saw over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorSummary {
    pub interval_s: f64,
    pub cpu_mean_percent: f32,
    pub cpu_peak_percent: f32,
    pub memory_peak_bytes: u64,
    /// CPU time the sampler thread itself used, in seconds.
    pub sampler_cpu_s: f64,
    pub samples: Vec<UsageSample>,
}

impl MonitorSummary {
    /// Summarises samples (pure; the mean skips nothing, the peak is the highest reading).
    pub fn from_samples(interval: Duration, samples: Vec<UsageSample>, sampler_cpu_s: f64) -> Self {
        let n = samples.len().max(1) as f32;
        MonitorSummary {
            interval_s: interval.as_secs_f64(),
            cpu_mean_percent: samples.iter().map(|s| s.cpu_percent).sum::<f32>() / n,
            cpu_peak_percent: samples.iter().map(|s| s.cpu_percent).fold(0.0, f32::max),
            memory_peak_bytes: samples
                .iter()
                .map(|s| s.memory_used_bytes)
                .max()
                .unwrap_or(0),
            sampler_cpu_s,
            samples,
        }
    }
}

/// A background thread sampling CPU and memory every `interval` until stopped. Stopping wakes
/// it at once: a run never waits for the sampler's next tick.
pub struct Monitor {
    interval: Duration,
    /// Dropping it wakes and ends the sampler.
    stop: Option<mpsc::Sender<()>>,
    samples: Arc<Mutex<Vec<UsageSample>>>,
    handle: Option<JoinHandle<f64>>,
}

impl Monitor {
    /// Starts sampling. Intervals below sysinfo's minimum are raised to it for CPU accuracy
    /// only when they would be meaningless (under 10 ms).
    pub fn start(interval: Duration) -> Monitor {
        let interval = interval.max(Duration::from_millis(10));
        let (stop, stopped) = mpsc::channel();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let handle = {
            let samples = samples.clone();
            std::thread::Builder::new()
                .name("clipbench-monitor".into())
                .spawn(move || sample_until(interval, &stopped, &samples))
                .expect("spawning a thread only fails when the OS is out of resources")
        };
        Monitor {
            interval,
            stop: Some(stop),
            samples,
            handle: Some(handle),
        }
    }

    /// Stops the sampler (at once) and summarises what it saw.
    pub fn stop(mut self) -> MonitorSummary {
        self.stop.take();
        let cpu = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or(0.0);
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        MonitorSummary::from_samples(self.interval, samples, cpu)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// CPU time used so far by the calling thread, in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    } else {
        0.0
    }
}

/// Samples every `interval` until `stopped` is woken (its sender dropped).
fn sample_until(
    interval: Duration,
    stopped: &mpsc::Receiver<()>,
    samples: &Mutex<Vec<UsageSample>>,
) -> f64 {
    let Some(mut system) = new_system() else {
        return thread_cpu_seconds();
    };
    let started = Instant::now();
    let mut next = started;
    loop {
        next += interval;
        let wait = next.saturating_duration_since(Instant::now());
        if stopped.recv_timeout(wait) != Err(mpsc::RecvTimeoutError::Timeout) {
            break;
        }
        system.refresh_cpu_usage();
        system.refresh_memory();
        let sample = UsageSample {
            at_s: started.elapsed().as_secs_f64(),
            cpu_percent: system.global_cpu_usage(),
            per_cpu_percent: system.cpus().iter().map(|c| c.usage()).collect(),
            memory_used_bytes: system.used_memory(),
            load_average_1m: load_average_1m(),
        };
        if let Ok(mut all) = samples.lock() {
            all.push(sample);
        }
    }
    thread_cpu_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_samples() {
        let sample = |cpu: f32, mem: u64| UsageSample {
            at_s: 0.0,
            cpu_percent: cpu,
            per_cpu_percent: vec![cpu],
            memory_used_bytes: mem,
            load_average_1m: 0.0,
        };
        let s = MonitorSummary::from_samples(
            Duration::from_millis(100),
            vec![sample(10.0, 5), sample(50.0, 9), sample(30.0, 7)],
            0.01,
        );
        assert_eq!(s.cpu_mean_percent, 30.0);
        assert_eq!(s.cpu_peak_percent, 50.0);
        assert_eq!(s.memory_peak_bytes, 9);
    }

    #[test]
    fn stopping_does_not_wait_for_the_next_tick() {
        // A sampler that would tick once an hour still stops as soon as it is told to.
        let monitor = Monitor::start(Duration::from_secs(3600));
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || done.send(monitor.stop()).unwrap());
        let summary = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("stop() returned without waiting for the tick");
        assert!(summary.samples.is_empty());
    }

    #[test]
    fn monitor_samples_in_the_background() {
        let monitor = Monitor::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(200));
        let summary = monitor.stop();
        assert!(
            summary.samples.len() >= 3,
            "{} samples",
            summary.samples.len()
        );
        assert!(summary.memory_peak_bytes > 0);
        let snap = snapshot(Duration::from_millis(100));
        assert!(snap.logical_cpus >= 1 && snap.total_memory_bytes > 0);
    }
}
