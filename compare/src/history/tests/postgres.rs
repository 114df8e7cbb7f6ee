//! The history on a real PostgreSQL server, started by the test on a free loopback port in a
//! temporary folder (`.ci/setup` installs PostgreSQL; as root it runs as the `postgres` user,
//! which the package creates, since the server refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{concurrent_writers_lose_nothing, fixture, identify_by_build, session};
use crate::history::store::Filter;
use crate::history::Store;

/// A PostgreSQL server, stopped (fast shutdown) when dropped.
struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Where PostgreSQL's server programs are: on PATH, or Debian's versioned folder.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(debian)
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .expect(
            "PostgreSQL's initdb and postgres must be installed for these tests (bash .ci/setup)",
        )
}

/// `program` run as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
        command.arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if unsafe { libc::geteuid() } == 0 {
            let ids = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .unwrap();
            let uid: u32 = String::from_utf8_lossy(&ids.stdout).trim().parse().expect(
                "running as root: the postgres user must exist (it comes with the package)",
            );
            let path = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::chown(path.as_ptr(), uid, u32::MAX) }, 0);
        }
        let initdb = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "clipbench", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let child = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Postgres {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("postgres://clipbench@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: fast shutdown (its backends end with it).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_shared_postgres_history_takes_concurrent_writers_and_keeps_each_session_once() {
    let server = Postgres::start();
    concurrent_writers_lose_nothing(&server.url());
    let store = Store::open(&server.url()).unwrap();
    let results = fixture();
    let one = session("run", &results, "reports/x", identify_by_build(&results));
    let before = store.read(&Filter::default()).unwrap().len();
    assert!(store.append(&one).unwrap());
    assert!(!store.append(&one).unwrap());
    let rows = store.read(&Filter::default()).unwrap();
    assert_eq!(rows.len(), before + results.runs.len());
    let back = rows
        .iter()
        .find(|r| r.measurement.commit.as_deref() == Some("b761bdf997"))
        .unwrap();
    assert!(back.measurement.dirty);
    assert_eq!(back.machine_id, one.machine.id);
}
