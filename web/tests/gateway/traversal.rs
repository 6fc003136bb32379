//! Paths that try to leave the dashboard's directory: dot segments plain
//! and percent-encoded, encoded slashes, backslashes, absolute paths, NUL.
//! Sent byte for byte over TCP (an HTTP client would normalise them first).
//! The answer is a JSON error or the app's own page, never a file from
//! outside the assets directory.

use crate::support::{nowhere, raw, Web};

/// What sits beside the assets directory: must never be served.
const SECRET: &str = "the-secret-beside-dist";

const ATTACKS: &[&str] = &[
    "/../secret.txt",
    "/../../secret.txt",
    "/assets/../../secret.txt",
    "/assets/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/..\\secret.txt",
    "/assets/..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "/..%5csecret.txt",
    "/assets/..%5c..%5csecret.txt",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/assets//etc/passwd",
    "/assets/%2fetc%2fpasswd",
    "/etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/C:%5cWindows%5cwin.ini",
    "/index.html%00.js",
    "/assets/index-3f2a9c.js%00",
    "/%00",
    "/%00../secret.txt",
    "/assets/%00/../../secret.txt",
    "/./secret.txt",
    "/dist/../secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/..;/secret.txt",
];

#[tokio::test]
async fn no_path_reaches_a_file_outside_the_assets_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("secret.txt"), SECRET).expect("secret");
    let dist = root.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("mkdir");
    let index = "<!doctype html><div id=\"app\"></div>";
    std::fs::write(dist.join("index.html"), index).expect("index");
    std::fs::write(dist.join("assets/index-3f2a9c.js"), "console.log(1)").expect("js");
    let web = Web::start(&nowhere(), &nowhere(), &dist, &[]).await;

    let mut answers = Vec::new();
    for path in ATTACKS {
        let answer = raw::get(&web.base, path).await;
        let body = answer.text();
        assert!(
            !body.contains(SECRET) && !body.contains("root:"),
            "{path} served a file from outside: {} {body}",
            answer.status
        );
        let acceptable = match answer.status {
            200 => body == index,
            400 | 404 => answer.error_code().is_some(),
            _ => false,
        };
        assert!(
            acceptable,
            "{path}: {} (expected the app's page or a JSON 400/404)\n{}\n{body}",
            answer.status, answer.head
        );
        answers.push(format!("{path} -> {}", answer.status));
    }
    // The report reads these; the assertions above are what matters.
    println!("{}", answers.join("\n"));

    // The real files are still served, so the checks above were not
    // passing merely because nothing is.
    let script = raw::get(&web.base, "/assets/index-3f2a9c.js").await;
    assert_eq!(script.status, 200);
    assert_eq!(script.text(), "console.log(1)");
}
