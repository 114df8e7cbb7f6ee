//! Any command line, run without a shell unless asked; its outputs are the `.mp4` files it
//! writes into `{outdir}`, each probed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clipbench_engine::probe;

use super::{Job, Measured};

/// Replaces `{input}`, `{outdir}` and `{sample}`.
pub fn substitute(arg: &str, job: &Job) -> String {
    arg.replace("{input}", &job.input.to_string_lossy())
        .replace("{outdir}", &job.scratch.to_string_lossy())
        .replace("{sample}", job.sample)
}

fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

pub fn check(command: &[String], shell: bool) -> Result<(), String> {
    let program = if shell {
        "sh"
    } else {
        command.first().map_or("", String::as_str)
    };
    if program_exists(program) {
        Ok(())
    } else {
        Err(format!("{program} is not installed (not found on PATH)"))
    }
}

/// CPU seconds (user + system) of this process's children that have been waited for, their
/// own waited-for children included: read before a command and after it is reaped, the
/// difference is the command's CPU time W, its ffmpeg children's included.
fn reaped_children_cpu_s() -> f64 {
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return f64::NAN;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Runs the command on one job (killed at `timeout` or when the run is interrupted) and checks
/// the clips it wrote; its CPU time W is measured too.
pub fn run(command: &[String], shell: bool, timeout: Duration, job: &Job) -> Measured {
    let args: Vec<String> = command.iter().map(|a| substitute(a, job)).collect();
    let mut cmd = if shell {
        let mut c = Command::new("sh");
        c.arg("-c").arg(args.join(" "));
        c
    } else {
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]);
        c
    };
    let cpu_before = reaped_children_cpu_s();
    let began = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Measured::failure(0.0, format!("cannot start {}: {e}", args[0])),
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if began.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {:.0} s", timeout.as_secs_f64()));
            }
            Ok(None) if job.cancel.is_cancelled() => {
                let _ = child.kill();
                let _ = child.wait();
                break Err("interrupted".to_owned());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(e.to_string()),
        }
    };
    let wall_s = began.elapsed().as_secs_f64();
    let cpu_s = reaped_children_cpu_s() - cpu_before;
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            let last = stderr.lines().last().unwrap_or("").to_owned();
            return Measured::failure(wall_s, format!("exited with {status}: {last}"));
        }
        Err(reason) => return Measured::failure(wall_s, reason),
    }
    let mut measured = check_outputs(wall_s, job);
    measured.work_cpu_s = cpu_s.is_finite().then_some(cpu_s.max(0.0));
    measured
}

/// What the command wrote into the scratch folder: every `.mp4` counted and probed.
fn check_outputs(wall_s: f64, job: &Job) -> Measured {
    let mut outputs: Vec<_> = std::fs::read_dir(job.scratch)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
                .collect()
        })
        .unwrap_or_default();
    outputs.sort();
    let mut measured = Measured {
        wall_s,
        clips: outputs.len(),
        encode_s: Some(wall_s),
        ..Default::default()
    };
    if outputs.is_empty() {
        measured.problems.push("no .mp4 written in {outdir}".into());
    }
    for path in outputs {
        measured.output_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match probe(job.tools, &path) {
            Ok(info) if info.has_audio || !job.media.has_audio => measured.clips_valid += 1,
            Ok(_) => measured
                .problems
                .push(format!("{}: audio missing", path.display())),
            Err(e) => measured.problems.push(e.to_string()),
        }
    }
    measured
}
