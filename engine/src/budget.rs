//! What one job may cost, decided before the work starts (pure): limits on the source's frame
//! size, frame rate and duration, and a deadline scaled from its duration. A server sets them
//! (each a flag); a source over a limit is refused as soon as its shape is known — from the
//! MP4 index of a download still arriving, or from the probe — and a job past its deadline is
//! cancelled. Image and video services bound a request the same way (imgproxy's source
//! resolution, thumbor's `MAX_PIXELS`, Mux's duration and resolution caps).

use std::time::Duration;

pub use crate::error::OverBudget;
use crate::probe::MediaInfo;

/// A job's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkBudget {
    /// Most pixels in one frame, any aspect (`--max-frame-size`).
    pub max_pixels: u64,
    /// Highest frame rate (`--max-fps`).
    pub max_fps: f64,
    /// Longest source, seconds (`--max-duration`).
    pub max_duration_s: f64,
    /// How long a job may run (`--job-deadline`).
    pub deadline: Deadline,
}

/// When a job is cancelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deadline {
    /// `per_source_second` × the source's duration, and never less than `floor`.
    Scaled {
        per_source_second: f64,
        floor: Duration,
    },
    /// The same for every job.
    Fixed(Duration),
}

impl Default for WorkBudget {
    /// 3840x2160 (8.3 MP), 120 fps, the backends' 100 clips of 30 s (50 minutes), and a
    /// deadline of 2 s per second of source, at least 5 minutes (a 10-minute 720p source takes
    /// about a minute here; the slowest profile on one core, a few).
    fn default() -> Self {
        WorkBudget {
            max_pixels: 3840 * 2160,
            max_fps: 120.0,
            max_duration_s: 100.0 * 30.0,
            deadline: Deadline::Scaled {
                per_source_second: 2.0,
                floor: Duration::from_secs(300),
            },
        }
    }
}

/// What the limits are checked against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceShape {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub duration_s: f64,
}

impl SourceShape {
    /// A probed source's shape.
    pub fn of(media: &MediaInfo) -> SourceShape {
        SourceShape {
            width: media.width,
            height: media.height,
            fps: media.fps,
            duration_s: media.duration,
        }
    }
}

impl WorkBudget {
    /// Whether `shape` is within the limits; the first one it passes otherwise.
    pub fn check(&self, shape: &SourceShape) -> Result<(), OverBudget> {
        let pixels = u64::from(shape.width) * u64::from(shape.height);
        if pixels > self.max_pixels {
            return Err(OverBudget {
                limit: "frame size",
                value: format!("{}x{} ({})", shape.width, shape.height, megapixels(pixels)),
                allowed: megapixels(self.max_pixels),
                flag: "--max-frame-size",
            });
        }
        if shape.fps > self.max_fps {
            return Err(OverBudget {
                limit: "frame rate",
                value: format!("{:.2} fps", shape.fps),
                allowed: format!("{} fps", self.max_fps),
                flag: "--max-fps",
            });
        }
        if shape.duration_s > self.max_duration_s {
            return Err(OverBudget {
                limit: "duration",
                value: format!("{:.0} s", shape.duration_s),
                allowed: format!("{:.0} s", self.max_duration_s),
                flag: "--max-duration",
            });
        }
        Ok(())
    }

    /// How long a job on a source of `duration_s` may run.
    pub fn deadline_for(&self, duration_s: f64) -> Duration {
        match self.deadline {
            Deadline::Fixed(limit) => limit,
            Deadline::Scaled {
                per_source_second,
                floor,
            } => {
                let scaled = (per_source_second * duration_s.max(0.0)).min(1e9);
                floor.max(Duration::from_secs_f64(scaled))
            }
        }
    }
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1} MP", pixels as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(width: u32, height: u32, fps: f64, duration_s: f64) -> SourceShape {
        SourceShape {
            width,
            height,
            fps,
            duration_s,
        }
    }

    #[test]
    fn the_defaults_take_4k_at_120_fps_for_50_minutes_and_refuse_beyond() {
        let budget = WorkBudget::default();
        assert_eq!(budget.check(&shape(3840, 2160, 120.0, 3000.0)), Ok(()));
        // Any aspect: a tall frame of the same pixel count passes.
        assert_eq!(budget.check(&shape(2160, 3840, 30.0, 60.0)), Ok(()));
        let over = budget.check(&shape(7680, 4320, 25.0, 600.0)).unwrap_err();
        assert_eq!((over.limit, over.flag), ("frame size", "--max-frame-size"));
        assert_eq!(over.value, "7680x4320 (33.2 MP)");
        assert!(over
            .to_string()
            .contains("over the limit of 8.3 MP (--max-frame-size)"));
        let fast = budget.check(&shape(1280, 720, 240.0, 60.0)).unwrap_err();
        assert_eq!(fast.flag, "--max-fps");
        let long = budget.check(&shape(1280, 720, 25.0, 3600.0)).unwrap_err();
        assert_eq!((long.limit, long.value.as_str()), ("duration", "3600 s"));
    }

    #[test]
    fn the_deadline_scales_with_the_source_and_has_a_floor() {
        let budget = WorkBudget::default();
        assert_eq!(budget.deadline_for(10.0), Duration::from_secs(300));
        assert_eq!(budget.deadline_for(600.0), Duration::from_secs(1200));
        assert_eq!(budget.deadline_for(f64::NAN), Duration::from_secs(300));
        let fixed = WorkBudget {
            deadline: Deadline::Fixed(Duration::from_secs(2)),
            ..budget
        };
        assert_eq!(fixed.deadline_for(600.0), Duration::from_secs(2));
    }
}
