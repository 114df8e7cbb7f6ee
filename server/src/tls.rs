//! The process's TLS provider (a leaf: the store and the queue both call it).

/// Names ring as the process's TLS provider (for `rediss://` queues and https stores, whose
/// clients take the process default); a provider already installed stays.
pub(crate) fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
