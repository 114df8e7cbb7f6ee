//! Where a queue-backed deployment keeps its files (sources and clips), through the
//! `object_store` crate: a local folder (`file:///abs/path`, one machine or a shared mount) or
//! S3-compatible storage (`s3://bucket/prefix`, credentials from the usual `AWS_*` variables).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Result, ServerError};

/// A store of named objects, shared by the queue-backed server and its workers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.url)
    }
}

/// An object's bytes, or part of them, and the object's whole size.
pub struct Fetched {
    pub bytes: bytes::Bytes,
    pub range: Range<u64>,
    pub size: u64,
}

impl Store {
    /// Opens the store at `url`: `file:///abs/folder` (created if missing) or anything
    /// `object_store::parse_url_opts` knows (`s3://bucket/prefix`, with `AWS_*` variables).
    pub fn open(url: &str) -> Result<Store> {
        let aws = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
        Store::open_with(url, aws)
    }

    /// [`Store::open`] with the `AWS_*` settings given instead of read from the environment.
    pub fn open_with(url: &str, aws: impl IntoIterator<Item = (String, String)>) -> Result<Store> {
        // Messages show the URL without credentials or query.
        let shown = reqwest::Url::parse(url).map_or_else(
            |_| "(an unreadable URL)".to_owned(),
            |u| clipbench_fetch::redact(&u),
        );
        let bad = |why: String| ServerError::InvalidOption(format!("--store {shown}: {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let inner: Arc<dyn ObjectStore> = if parsed.scheme() == "file" {
            let folder = parsed
                .to_file_path()
                .map_err(|_| bad("not an absolute folder path".into()))?;
            std::fs::create_dir_all(&folder)
                .map_err(|e| ServerError::io("cannot create the store folder", &folder, e))?;
            Arc::new(LocalFileSystem::new_with_prefix(&folder).map_err(|e| bad(e.to_string()))?)
        } else {
            crate::tls::use_ring_for_tls();
            let options = aws.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v));
            let (store, prefix) =
                object_store::parse_url_opts(&parsed, options).map_err(|e| bad(e.to_string()))?;
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Store {
            inner,
            url: shown.clone(),
        })
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&Key::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed("cannot look up", key, e)),
        }
    }

    /// Uploads a local file under `key`, in parts; readers see the object only once it is
    /// whole.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64> {
        const PART: usize = 8 << 20;
        let mut source = tokio::fs::File::open(file)
            .await
            .map_err(|e| ServerError::io("cannot read", file, e))?;
        let mut upload = self
            .inner
            .put_multipart(&Key::from(key))
            .await
            .map_err(|e| self.failed("cannot start uploading", key, e))?;
        let mut total = 0u64;
        loop {
            let mut part = Vec::with_capacity(PART);
            let read = (&mut source)
                .take(PART as u64)
                .read_to_end(&mut part)
                .await
                .map_err(|e| ServerError::io("cannot read", file, e))?;
            if read == 0 && total > 0 {
                break;
            }
            total += read as u64;
            if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                let _ = upload.abort().await;
                return Err(self.failed("cannot upload", key, e));
            }
            if read < PART {
                break;
            }
        }
        upload
            .complete()
            .await
            .map_err(|e| self.failed("cannot finish uploading", key, e))?;
        Ok(total)
    }

    /// Downloads `key` to `file`: written under a temporary name, renamed when whole.
    pub async fn get_file(&self, key: &str, file: &Path) -> Result<u64> {
        let result = self
            .inner
            .get(&Key::from(key))
            .await
            .map_err(|e| self.failed("cannot read", key, e))?;
        let partial = clipbench_engine::files::partial_path(file);
        let mut out = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| ServerError::io("cannot create", &partial, e))?;
        let mut stream = result.into_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(self.failed("cannot read", key, e));
                }
            };
            total += chunk.len() as u64;
            if let Err(e) = out.write_all(&chunk).await {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(ServerError::io("cannot write", &partial, e));
            }
        }
        out.flush()
            .await
            .map_err(|e| ServerError::io("cannot write", &partial, e))?;
        tokio::fs::rename(&partial, file)
            .await
            .map_err(|e| ServerError::io("cannot rename", &partial, e))?;
        Ok(total)
    }

    /// Reads `key`, or the byte `range` of it; `None` when there is no such object.
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<Fetched>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = match self.inner.get_opts(&Key::from(key), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed("cannot read", key, e)),
        };
        let (range, size) = (result.range.clone(), result.meta.size);
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.failed("cannot read", key, e))?;
        Ok(Some(Fetched { bytes, range, size }))
    }

    /// The size of `key`, `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.inner.head(&Key::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("cannot look up", key, e)),
        }
    }

    /// Deletes every object under `prefix`; how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let mut listing = self.inner.list(Some(&Key::from(prefix)));
        let mut removed = 0;
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.failed("cannot list", prefix, e))?;
            self.inner
                .delete(&meta.location)
                .await
                .map_err(|e| self.failed("cannot delete", meta.location.as_ref(), e))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Every object under `prefix`: (key, bytes, last modified).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64, std::time::SystemTime)>> {
        let mut listing = self.inner.list(Some(&Key::from(prefix)));
        let mut objects = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.failed("cannot list", prefix, e))?;
            objects.push((
                meta.location.to_string(),
                meta.size,
                std::time::SystemTime::from(meta.last_modified),
            ));
        }
        Ok(objects)
    }

    /// Deletes one object (gone already is fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("cannot delete", key, e)),
        }
    }

    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> ServerError {
        ServerError::Store(format!("{what} {key} in the store {}: {e}", self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An S3 store on a loopback endpoint: the HTTP client builds with our TLS set-up (ring, no
    /// aws-lc), requests are signed, a missing key reads as missing.
    #[tokio::test]
    async fn an_s3_store_signs_its_requests_to_the_endpoint() {
        use axum::http::{HeaderMap, Method, Uri};
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap| async move {
                let signed = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
                record
                    .lock()
                    .unwrap()
                    .push((method, uri.path().to_owned(), signed));
                axum::http::StatusCode::NOT_FOUND
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let settings = [
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let store = Store::open_with("s3://bucket/prefix", settings).unwrap();
        assert!(!store.exists("clips/a.mp4").await.unwrap());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let (method, path, signed) = &seen[0];
        assert_eq!(method, Method::HEAD);
        assert_eq!(path, "/bucket/prefix/clips/a.mp4");
        assert!(signed, "the request carries an AWS signature");
    }

    #[tokio::test]
    async fn a_local_store_round_trips_files_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let url = reqwest::Url::from_directory_path(dir.path().join("store")).unwrap();
        let store = Store::open(url.as_str()).unwrap();
        let source = dir.path().join("source.bin");
        // Over one 8 MiB part, read in several pieces.
        let data: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        assert_eq!(store.put_file("a/b.bin", &source).await.unwrap(), 9_000_000);
        assert!(store.exists("a/b.bin").await.unwrap());
        assert_eq!(store.size("a/b.bin").await.unwrap(), Some(9_000_000));
        let part = store.get("a/b.bin", Some(10..20)).await.unwrap().unwrap();
        assert_eq!(&part.bytes[..], &data[10..20]);
        assert_eq!(part.size, 9_000_000);
        let back = dir.path().join("back.bin");
        store.get_file("a/b.bin", &back).await.unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), data);
        assert!(store.get("a/missing", None).await.unwrap().is_none());
        assert_eq!(store.delete_prefix("a").await.unwrap(), 1);
        assert!(!store.exists("a/b.bin").await.unwrap());
    }
}
