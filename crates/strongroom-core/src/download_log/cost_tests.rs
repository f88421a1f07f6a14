//! What the recorder costs a request (an ignored test that prints timings).

use super::{ClientKind, DownloadRecord, DownloadRecorder};

/// What the recorder costs a request, for docs/benchmarks.md (issue 13: within the noise of
/// the page and download benchmarks): `cargo test --profile quick -p strongroom-core recorder_cost
/// -- --ignored --nocapture`. Page reads spread over 10,000 projects with real user agents (the
/// client kind parsed each time), and downloads from 1,000 addresses (the repeat filter and the
/// queue), each timed over 1,000,000 calls on one thread.
#[test]
#[ignore]
fn recorder_cost() {
    use strongroom_store::download_log::Origin;
    const N: usize = 1_000_000;
    let names: Vec<String> = (0..10_000).map(|i| format!("project-{i:05}")).collect();
    let agents = [
        Some(
            r#"pip/24.2 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.12.3"}}"#,
        ),
        Some("uv/0.5.1"),
        Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        ),
        Some("bandersnatch/6.5.0 (cpython 3.12.3-final0, Linux x86_64)"),
        None,
    ];
    let r = DownloadRecorder::with_capacity(N);
    let at = 1_780_000_000_000_000i64;
    let start = std::time::Instant::now();
    for i in 0..N {
        let kind = ClientKind::of(agents[i % agents.len()]);
        r.record_page_hit(&names[(i * 7919) % names.len()], kind, at + i as i64);
    }
    let page = start.elapsed();
    let start = std::time::Instant::now();
    for i in 0..N {
        r.record(DownloadRecord {
            origin: Origin::Local,
            project: names[i % names.len()].clone(),
            version: "1.0".into(),
            filename: format!("{}-1.0-py3-none-any.whl", names[i % names.len()]),
            sha256: "0".repeat(64),
            at: at + i as i64 * 1_000_000,
            ip: Some(format!("10.0.{}.{}", (i / 250) % 4, i % 250)),
            user_agent: agents[i % agents.len()].map(str::to_owned),
        });
    }
    let download = start.elapsed();
    println!(
        "page read counted: {:.0} ns; download recorded (with building its record): {:.0} ns",
        page.as_nanos() as f64 / N as f64,
        download.as_nanos() as f64 / N as f64
    );
}
