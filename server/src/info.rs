//! `GET /health`, `GET /system_info` and `GET /progress`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::responses::server_error;
use clipbench_engine::allocate::allocate;
use clipbench_engine::extras::{HealthExtras, ENGINE_NAME};
use clipbench_engine::memory::{default_cache_dir, per_encoder_bytes, EncoderMemory};
use clipbench_engine::monitor::snapshot;
use clipbench_engine::plan::plan;
use clipbench_engine::probe::MediaInfo;

/// `GET /health`: the optimized backend's answer, plus who we are under `clipbench`.
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "clipbench": HealthExtras {
            engine: ENGINE_NAME.into(),
            compat: state.config.compat,
            jobs: state.admission.jobs(),
        },
    }))
}

/// `GET /progress`: the running (or last) job's, in the backend's dialect.
pub async fn progress(State(state): State<Arc<AppState>>) -> Response {
    match state.backend.progress().await {
        Ok(progress) => Json(progress.view(state.config.compat)).into_response(),
        Err(e) => server_error(e),
    }
}

/// `GET /system_info`: the machine and the allocation the configured strategy would choose for
/// a typical job (a 10-minute 720p25 video under the configured plan).
pub async fn system_info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let system = tokio::task::spawn_blocking(|| snapshot(Duration::from_millis(100)))
        .await
        .unwrap_or_else(|_| snapshot(Duration::ZERO));
    let typical = MediaInfo {
        duration: 600.0,
        width: 1280,
        height: 720,
        fps: 25.0,
        size_bytes: 120_000_000,
        ..Default::default()
    };
    let clips = plan(&typical, &state.config.setup.plan).len();
    let measured = default_cache_dir()
        .map(|dir| EncoderMemory::load(&dir))
        .and_then(|m| m.measured(state.config.setup.profile, typical.width, typical.height));
    let (per_encoder, _) = per_encoder_bytes(measured, typical.width, typical.height);
    let allocation = allocate(
        state.config.setup.strategy,
        &system,
        &typical,
        clips,
        per_encoder,
    );
    Json(json!({
        "cpu_count": system.logical_cpus,
        "logical_cores": system.logical_cpus,
        "physical_cores": system.physical_cpus,
        "memory_total_gb": system.total_memory_bytes as f64 / 1e9,
        "memory_available_gb": system.available_memory_bytes as f64 / 1e9,
        "cpu_percent": system.cpu_usage_percent,
        "load_average": system.load_average_1m,
        "strategy": state.config.setup.strategy,
        "profile": state.config.setup.profile,
        "policy": state.config.setup.plan.policy,
        "allocation": {
            "for": "a 10-minute 720p25 video",
            "clips": clips,
            "workers": allocation.workers,
            "ffmpeg_threads": allocation.ffmpeg_threads,
            "reason": allocation.reason,
        },
    }))
}
