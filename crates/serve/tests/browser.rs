//! The web page in a real browser: `tests/browser/page.test.mjs` (Playwright driving Debian's
//! headless Chromium) against a server started here. It runs when `MNV2_BROWSER_TEST=1` (as
//! `.ci/run` sets it, after installing chromium and the npm package) and then must pass; without
//! that variable it runs only if Chromium and the package are already installed.

mod common;

use common::*;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_page_classifies_segments_and_detects() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script_dir = root.join("tests/browser");
    let ready = Path::new("/usr/bin/chromium").exists() && script_dir.join("node_modules/playwright-core").exists();
    let required = std::env::var("MNV2_BROWSER_TEST").is_ok_and(|v| v == "1");
    if !ready {
        assert!(!required, "MNV2_BROWSER_TEST=1 but Chromium or tests/browser/node_modules is missing");
        eprintln!("skipped: no /usr/bin/chromium or npm package (see .ci/run to install them)");
        return;
    }
    let models = [
        spec("cls", "mobilenet_v2_1.0_224_quant.tflite"),
        spec("seg", "deeplabv3_mnv2_dm05_pascal_quant.tflite"),
        spec("det", "ssdlite_mobilenet_v2_pedestrian_frozen.pb"),
    ];
    let server = mnv2_serve::start(local(), &models).await.expect("server starts");
    let shots = root.join("target/browser-shots");
    let out = tokio::process::Command::new("node")
        .arg("page.test.mjs")
        .current_dir(&script_dir)
        .env("MNV2_URL", format!("http://{}/", server.addr))
        .env("MNV2_SHARED_DIR", mnv2_testdata::shared())
        .env("MNV2_SHOTS", &shots)
        .output()
        .await
        .expect("node runs");
    server.shutdown().await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{text}");
    eprintln!("{text}");
}
