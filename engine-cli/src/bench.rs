//! `bench`: several strategies on one file plus one W_ref run (one clip at a time, one thread
//! for decoding and one for encoding), compared against the floor `max(W_ref / N, longest clip)`,
//! and the engine's other modes: `--reuse-overlaps`, the stream-copy fast path, and one plain
//! ffmpeg encoding the whole file with its own threads (the least work any cut can cost).

use std::fmt::Write;
use std::process::ExitCode;

use clipbench_engine::{
    probe, CancelToken, Policy, Profile, RunOptions, RunReport, Setup, Strategy, ThreadSetting,
    Tools,
};
use serde::Serialize;

use crate::args::{BenchArgs, ExtraRow};
use crate::commands::{on_ctrl_c, run_local};
use clipbench_engine::cancel::escalate_ctrl_c;
use clipbench_engine::files::write_json_atomic;
use clipbench_engine::plan::PlanOptions;
use clipbench_engine::report::work_by_kind;
use clipbench_engine::task::TaskKind;

/// One run of the comparison: how the engine is set up.
struct Named {
    name: String,
    setup: Setup,
    /// Whether a clip's PSNR against the source is measured (not for the whole file).
    measure_quality: bool,
}

/// One row of the comparison.
#[derive(Serialize)]
struct Row {
    name: String,
    wall_s: f64,
    time_to_first_clip_s: Option<f64>,
    work_cpu_s: f64,
    /// `max(W / cores, longest task)` of this run's own work.
    ideal_s: f64,
    /// `ideal / wall`: how well this run's own work was scheduled.
    efficiency: f64,
    /// `W_ref floor / wall` (DESIGN's efficiency against the overlapping encode's floor).
    vs_reference_floor: Option<f64>,
    utilisation: f64,
    tail_idle_s: f64,
    realtime_factor: f64,
    memory_peak_bytes: u64,
    encoder_peak_rss_bytes: u64,
    clips_valid: usize,
    clips_failed: usize,
    /// Bytes of every clip written.
    output_bytes: u64,
    /// Mean PSNR (dB) of one clip (the second, else the first) against the source's segment;
    /// 100 for identical frames; `None` for the whole-file row or when not measured.
    psnr_db: Option<f64>,
    /// W by task kind: (kind, CPU seconds, tasks run).
    work_by_kind: Vec<(TaskKind, f64, usize)>,
}

#[derive(Serialize)]
struct BenchFile {
    schema_version: u32,
    w_ref_cpu_s: Option<f64>,
    floor_s: Option<f64>,
    rows: Vec<Row>,
    reports: Vec<RunReport>,
}

/// The runs to make, in order: W_ref, the strategies, the modes.
fn setups(args: &BenchArgs, duration: f64) -> Vec<Named> {
    let base = Setup {
        profile: args.profile,
        plan: PlanOptions {
            policy: args.policy,
            ..PlanOptions::default()
        },
        ..Setup::default()
    };
    let named = |name: &str, setup: Setup| Named {
        name: name.to_owned(),
        setup,
        measure_quality: true,
    };
    let mut setups = Vec::new();
    if !args.no_reference {
        let reference = Setup {
            strategy: Strategy::Serial,
            threads: Some(ThreadSetting::Fixed(1)),
            ..base
        };
        setups.push(named("W_ref (serial, 1+1 threads)", reference));
    }
    setups.extend(args.strategies.iter().map(|s| {
        let setup = Setup {
            strategy: *s,
            ..base
        };
        named(&s.to_string(), setup)
    }));
    for mode in &args.modes {
        setups.push(match mode {
            ExtraRow::ReuseOverlaps => named(
                "auto --reuse-overlaps",
                Setup {
                    reuse_overlaps: true,
                    ..base
                },
            ),
            ExtraRow::Copy => named(
                "auto copy adaptive",
                Setup {
                    profile: Profile::Copy,
                    plan: PlanOptions {
                        policy: Policy::Adaptive,
                        ..base.plan
                    },
                    ..base
                },
            ),
            ExtraRow::Smart => named(
                "auto smart",
                Setup {
                    profile: Profile::Smart,
                    ..base
                },
            ),
            ExtraRow::WholeFile => Named {
                measure_quality: false,
                ..named(
                    "whole file, one ffmpeg",
                    Setup {
                        strategy: Strategy::FfmpegThreads,
                        plan: PlanOptions {
                            policy: Policy::Fixed {
                                clip_len: duration,
                                step: duration,
                                min_last: 0.0,
                            },
                            ..base.plan
                        },
                        ..base
                    },
                )
            },
        });
    }
    setups
}

/// The mean PSNR of the run's second clip (else its first) against the source, capped at
/// 100 dB (identical frames); `None` when it cannot be measured.
fn quality_of(report: &RunReport) -> Option<f64> {
    let clip = report
        .clips
        .iter()
        .find(|c| c.clip.number == 2)
        .or(report.clips.first())?;
    let path = clip.path.as_ref()?;
    let (start, duration) = (clip.clip.start, clip.clip.duration());
    let tools = Tools::from_env();
    match clipbench_engine::quality::clip_psnr(&tools, path, &report.input.path, start, duration) {
        Ok(db) => Some(db.min(100.0)),
        Err(e) => {
            eprintln!("no quality figure for clip {}: {e}", clip.clip.number);
            None
        }
    }
}

/// Runs the comparison and prints it.
pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = CancelToken::new();
    escalate_ctrl_c(runtime.handle(), &cancel, true, on_ctrl_c);
    let duration = probe(&Tools::from_env(), &args.input)?.duration;
    let mut runs: Vec<(String, RunReport, Option<f64>)> = Vec::new();
    for Named {
        name,
        setup,
        measure_quality,
    } in setups(args, duration)
    {
        let clips_dir = args.out.join("clips");
        let _ = std::fs::remove_dir_all(&clips_dir);
        let options = RunOptions::with_setup(&clips_dir, setup);
        eprintln!("running {name} …");
        let report = run_local(&args.input, &options, &cancel)?;
        let quality = measure_quality.then(|| quality_of(&report));
        let _ = std::fs::remove_dir_all(&clips_dir);
        if report.cancelled {
            return Err(clipbench_engine::EngineError::Cancelled.into());
        }
        runs.push((name, report, quality.flatten()));
    }
    let reference = (!args.no_reference).then(|| &runs[0].1);
    let w_ref = reference.map(|r| r.metrics.work_cpu_s);
    let floor = reference.map(|r| {
        (r.metrics.work_cpu_s / r.system.logical_cpus.max(1) as f64).max(r.metrics.longest_clip_s)
    });
    let rows: Vec<Row> = runs
        .iter()
        .map(|(name, r, psnr_db)| {
            let m = &r.metrics;
            let per_wall = |t: f64| if m.wall_s > 0.0 { t / m.wall_s } else { 0.0 };
            Row {
                name: name.clone(),
                wall_s: m.wall_s,
                time_to_first_clip_s: m.time_to_first_clip_s,
                work_cpu_s: m.work_cpu_s,
                ideal_s: m.floor_s,
                efficiency: per_wall(m.floor_s),
                vs_reference_floor: floor.map(per_wall),
                utilisation: m.utilisation,
                tail_idle_s: m.tail_idle_s,
                realtime_factor: m.realtime_factor,
                memory_peak_bytes: r.monitor.memory_peak_bytes,
                encoder_peak_rss_bytes: m.encoder_peak_rss_bytes,
                clips_valid: m.clips_done,
                clips_failed: m.clips_failed,
                output_bytes: m.output_bytes,
                psnr_db: *psnr_db,
                work_by_kind: work_by_kind(r.clips.iter().chain(&r.chunks)),
            }
        })
        .collect();
    print!("{}", table(&rows));
    let all_valid = runs.iter().all(|(_, r, _)| r.all_valid());
    let file = BenchFile {
        schema_version: 1,
        w_ref_cpu_s: w_ref,
        floor_s: floor,
        rows,
        reports: runs.into_iter().map(|(_, r, _)| r).collect(),
    };
    let path = args.out.join("bench.json");
    write_json_atomic(&path, &file)?;
    println!("full reports: {}", path.display());
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::EXIT_CLIPS_FAILED)
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>6} {:>7} {:>7} {:>5} {:>6} {:>5} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>6}",
        "run",
        "wall s",
        "TTFC s",
        "W CPU-s",
        "ideal s",
        "eff",
        "vs ref",
        "util",
        "tail s",
        "RTF",
        "mem MiB",
        "rss MiB",
        "clips",
        "out MB",
        "PSNR"
    );
    let mib = |b: u64| b as f64 / 1048576.0;
    for r in rows {
        let ttfc = r
            .time_to_first_clip_s
            .map_or("-".into(), |t| format!("{t:.2}"));
        let vs_ref = r
            .vs_reference_floor
            .map_or("-".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "{:<28} {:>7.2} {:>6} {:>7.1} {:>7.2} {:>5.2} {:>6} {:>5.2} {:>6.2} {:>6.1} {:>7.0} {:>7.0} {:>3}/{:<2} {:>7.1} {:>6}",
            r.name,
            r.wall_s,
            ttfc,
            r.work_cpu_s,
            r.ideal_s,
            r.efficiency,
            vs_ref,
            r.utilisation,
            r.tail_idle_s,
            r.realtime_factor,
            mib(r.memory_peak_bytes),
            mib(r.encoder_peak_rss_bytes),
            r.clips_valid,
            r.clips_valid + r.clips_failed,
            r.output_bytes as f64 / 1e6,
            r.psnr_db.map_or("-".into(), |db| format!("{db:.1}"))
        );
    }
    let _ = writeln!(out, "W by task kind (CPU-s in tasks):");
    for r in rows {
        let kinds: Vec<String> = (r.work_by_kind.iter())
            .map(|(kind, cpu_s, n)| format!("{} {cpu_s:.1} in {n}", work_name(*kind)))
            .collect();
        let _ = writeln!(out, "  {:<26} {}", r.name, kinds.join(", "));
    }
    out
}

/// What a task kind's work is, in the breakdown of W: a smart cut's `pieces` are its heads and
/// feet encoded (with its copied middle and audio when the join cannot read them from the
/// source; one ffmpeg a clip), its `joins` the join and the decode across it; with `--reuse-overlaps` a join concatenates chunks and encodes
/// the clip's audio.
fn work_name(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Encode => "encodes",
        TaskKind::Copy => "whole copies",
        TaskKind::Chunk => "chunks",
        TaskKind::Assemble => "joins",
        TaskKind::Audio => "first audio",
        TaskKind::Cut => "pieces (heads and feet)",
    }
}
