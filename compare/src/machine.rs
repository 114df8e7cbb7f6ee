//! The machine block of a report: what the numbers were measured on.

use clipbench_engine::probe::ffmpeg_version;
use clipbench_engine::Tools;
use serde::{Deserialize, Serialize};
use sysinfo::System;

/// Hardware and software the benchmark ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub physical_cpus: usize,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    pub ffmpeg_version: String,
    /// The commit clipbench was built from (embedded at build time).
    pub git_commit: Option<String>,
}

impl Machine {
    /// Reads the machine now.
    pub fn detect(tools: &Tools) -> Machine {
        let snapshot = clipbench_engine::monitor::snapshot(std::time::Duration::ZERO);
        let cpu_model = System::new_with_specifics(
            sysinfo::RefreshKind::nothing().with_cpu(sysinfo::CpuRefreshKind::nothing()),
        )
        .ok()
        .and_then(|s| s.cpus().first().map(|c| c.brand().trim().to_owned()))
        .unwrap_or_default();
        Machine {
            cpu_model,
            logical_cpus: snapshot.logical_cpus,
            physical_cpus: snapshot.physical_cpus,
            memory_bytes: snapshot.total_memory_bytes,
            os: System::long_os_version().unwrap_or_default(),
            kernel: System::kernel_version().unwrap_or_default(),
            ffmpeg_version: ffmpeg_version(tools).unwrap_or_default(),
            git_commit: Some(clipbench_engine::BUILD_COMMIT.to_owned()),
        }
    }

    /// Whether two results come from the same hardware (CPU model, CPU count, memory within
    /// 5 %); software versions may differ, that is what a regression gate compares.
    pub fn same_hardware(&self, other: &Machine) -> bool {
        let memory_close = (self.memory_bytes as f64 - other.memory_bytes as f64).abs()
            <= 0.05 * self.memory_bytes.max(other.memory_bytes) as f64;
        self.cpu_model == other.cpu_model && self.logical_cpus == other.logical_cpus && memory_close
    }

    /// One line for tables and warnings.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} logical CPUs, {:.1} GiB), {}, ffmpeg {}",
            self.cpu_model,
            self.logical_cpus,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.os,
            self.ffmpeg_version
        )
    }
}
