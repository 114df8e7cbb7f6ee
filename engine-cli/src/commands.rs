//! The `probe`, `plan` and `run` commands.

use std::path::Path;
use std::process::ExitCode;

use clipbench_engine::cancel::{escalate_ctrl_c, CtrlCStep};
use clipbench_engine::files::write_json_atomic;
use clipbench_engine::probe::probe_with_keyframes;
use clipbench_engine::{
    plan as make_plan, probe as probe_file, CancelToken, PlanOptions, RunOptions, RunReport, Tools,
};
use clipbench_fetch::guard::UrlGuard;
use clipbench_fetch::url_run::run_url;
use clipbench_fetch::{DownloadOptions, Input};

use crate::bars::RunProgress;
use crate::exit::{EXIT_CLIPS_FAILED, EXIT_INTERRUPTED};
use crate::summary;

/// `probe FILE`
pub fn probe(file: &Path, keyframes: bool, json: bool) -> anyhow::Result<ExitCode> {
    let tools = Tools::from_env();
    let info = if keyframes {
        probe_with_keyframes(&tools, file)?
    } else {
        probe_file(&tools, file)?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", summary::media(&info));
        if let Some(frames) = &info.keyframes {
            let shown: Vec<String> = frames.iter().take(20).map(|t| format!("{t:.3}")).collect();
            let more = if frames.len() > 20 { " …" } else { "" };
            println!("keyframes  {} at {}{more}", frames.len(), shown.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan FILE`
pub fn plan(file: &Path, options: &PlanOptions, json: bool) -> anyhow::Result<ExitCode> {
    let info = probe_file(&Tools::from_env(), file)?;
    let clips = make_plan(&info, options);
    if json {
        println!("{}", serde_json::to_string_pretty(&clips)?);
    } else {
        print!("{}", summary::plan_table(&info, options, &clips));
    }
    Ok(ExitCode::SUCCESS)
}

/// The CLI's Ctrl-C: drain, then cancel, then exit.
pub fn on_ctrl_c(step: CtrlCStep) {
    match step {
        CtrlCStep::Drain => {
            eprintln!("\ninterrupted: finishing the running clips (Ctrl-C again to stop them now)")
        }
        CtrlCStep::Cancel => {
            eprintln!("\nstopping ffmpeg and removing partial files (Ctrl-C again to exit at once)")
        }
        CtrlCStep::Exit => std::process::exit(i32::from(EXIT_INTERRUPTED)),
    }
}

/// `run INPUT -o DIR`
pub fn run(input: &str, options: &RunOptions, json: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = CancelToken::new();
    escalate_ctrl_c(runtime.handle(), &cancel, true, on_ctrl_c);
    let (report, download_error) = match Input::parse(input)? {
        Input::Path(path) => (run_local(&path, options, &cancel)?, None),
        Input::Url(url) => run_from_url(&runtime, &url, options, &cancel)?,
    };
    if let Some(path) = json {
        write_json_atomic(path, &report)?;
    }
    print!("{}", summary::run(&report, &options.output_dir));
    if let Some(error) = &download_error {
        eprintln!(
            "error: {error}: the clips listed as failed were not made, run again to make them"
        );
    }
    Ok(if report.cancelled {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.all_valid() && download_error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CLIPS_FAILED)
    })
}

/// Downloads `url` into the output folder's `.download/` (removed after) and cuts while it
/// arrives when it can, with a download bar and the run's progress: the report, and the
/// download's error when it stopped after the run began.
fn run_from_url(
    runtime: &tokio::runtime::Runtime,
    url: &reqwest::Url,
    options: &RunOptions,
    cancel: &CancelToken,
) -> anyhow::Result<(RunReport, Option<String>)> {
    let scratch = options.output_dir.join(".download");
    let bar = crate::bars::download_bar(&clipbench_fetch::redact(url));
    let progress = std::sync::Arc::new(RunProgress::new());
    // The user's own URL on the user's own machine: any address, no rate or time limit
    // (Ctrl-C stops it).
    let download_options = DownloadOptions {
        guard: std::sync::Arc::new(UrlGuard::allow_all()),
        min_rate: 0,
        deadline: std::time::Duration::from_secs(7 * 24 * 3600),
        ..DownloadOptions::default()
    };
    let on_download = {
        let bar = bar.clone();
        move |done, total: Option<u64>| {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    };
    let on_event = {
        let progress = progress.clone();
        std::sync::Arc::new(move |event: &clipbench_engine::TimedEvent| progress.on_event(event))
    };
    let ran = runtime.block_on(run_url(
        url,
        &scratch,
        &download_options,
        options,
        cancel,
        on_download,
        on_event,
    ));
    bar.finish_and_clear();
    progress.finish();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok((ran.report?, ran.download_error))
}

/// Runs the engine on a local file with a progress display.
pub fn run_local(
    path: &Path,
    options: &RunOptions,
    cancel: &CancelToken,
) -> anyhow::Result<RunReport> {
    let progress = RunProgress::new();
    let report = clipbench_engine::run(path, options, cancel, &|event| progress.on_event(event));
    progress.finish();
    Ok(report?)
}

/// `worker --queue URL --store URL`: takes tasks until Ctrl-C, then finishes the running ones.
pub fn worker(
    queue: clipbench_server::queue::QueueConfig,
    store: &str,
    customise: impl FnOnce(&mut clipbench_server::queue::worker::WorkerOptions),
) -> anyhow::Result<ExitCode> {
    let store = clipbench_server::store::Store::open(store)?;
    let mut options = clipbench_server::queue::worker::WorkerOptions::new(queue, store);
    customise(&mut options);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("interrupted: taking no more tasks, finishing the running ones");
        };
        clipbench_server::queue::worker::run(options, stop).await
    })?;
    Ok(ExitCode::SUCCESS)
}
