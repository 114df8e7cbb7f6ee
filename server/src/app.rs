//! The state the handlers share: the configuration, admission, and the job backend chosen at
//! start.

use std::sync::Arc;

use crate::admission::Admission;
use crate::backend::JobBackend;
use crate::config::ServerConfig;

/// State shared by the handlers.
pub struct AppState {
    pub config: Arc<ServerConfig>,
    /// Every job's place from request to end.
    pub admission: Arc<Admission>,
    /// Local or queued, chosen once at start.
    pub backend: Arc<dyn JobBackend>,
}
