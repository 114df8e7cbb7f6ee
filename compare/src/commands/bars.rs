//! The terminal side of a benchmark's [`Progress`]: a bar with the ETA on a terminal, one line
//! per finished run in a log or pipe, nothing with `--quiet`.

use std::io::IsTerminal;

use clipbench::runner::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows a benchmark's progress on stderr.
pub struct Terminal {
    bar: ProgressBar,
    /// Off a terminal the bar is hidden: one line per finished run instead.
    lines: bool,
    quiet: bool,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} runs {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Terminal {
            bar,
            lines: !quiet && !std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Handles one progress report.
    pub fn observe(&self, progress: &Progress) {
        if self.quiet {
            return;
        }
        match progress {
            // A hidden bar drops what it is asked to print.
            Progress::Note(line) | Progress::Problem(line) if self.lines => eprintln!("{line}"),
            Progress::Note(line) | Progress::Problem(line) => self.bar.println(line),
            Progress::Scheduled { runs } => self.bar.set_length(*runs as u64),
            Progress::Started { run, eta_s } => self.bar.set_message(format!(
                "(eta {}) {} on {}{}",
                clock(*eta_s),
                run.target,
                run.sample,
                warmup(run.warmup)
            )),
            Progress::Finished {
                run,
                outcome,
                wall_s,
                elapsed_s,
                eta_s,
            } => {
                self.bar.inc(1);
                if self.lines {
                    eprintln!(
                        "[{}/{}] {} on {}{}: {outcome} {wall_s:.2} s (elapsed {}, eta {})",
                        run.position + 1,
                        run.total,
                        run.target,
                        run.sample,
                        warmup(run.warmup),
                        clock(*elapsed_s),
                        clock(*eta_s)
                    );
                }
            }
            Progress::Done => self.bar.finish_and_clear(),
        }
    }
}

fn warmup(warmup: bool) -> &'static str {
    if warmup {
        " (warm-up)"
    } else {
        ""
    }
}

/// `1h 2m 3s`-style, whole seconds.
fn clock(seconds: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.round() as u64)).to_string()
}
