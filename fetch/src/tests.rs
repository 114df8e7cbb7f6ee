//! Tests of URL inputs: names, redaction, content kinds, rate, yt-dlp's arguments.

use super::*;

#[test]
fn inputs_are_classified() {
    assert_eq!(
        Input::parse("a/b.mp4").unwrap(),
        Input::Path("a/b.mp4".into())
    );
    assert!(matches!(
        Input::parse("https://x.org/v.mp4").unwrap(),
        Input::Url(_)
    ));
    assert!(matches!(
        Input::parse("HTTP://x.org/v.mp4").unwrap(),
        Input::Url(_)
    ));
    assert!(matches!(
        Input::parse("ftp://x.org/v.mp4"),
        Err(FetchError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        Input::parse("file:///etc/passwd"),
        Err(FetchError::UnsupportedScheme(_))
    ));
}

#[test]
fn file_names_from_urls() {
    let name = |u: &str| file_name_for(&Url::parse(u).unwrap());
    assert_eq!(name("http://h/videos/bbb.mp4?x=1"), "bbb.mp4");
    assert_eq!(name("http://h/"), "download.mp4");
    // The URL parser resolves encoded dot segments, so nothing escapes the folder.
    assert_eq!(name("http://h/a/%2e%2e"), "download.mp4");
}
