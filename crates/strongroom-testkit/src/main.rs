//! `strongroom-s3-test-server`: an S3-compatible server (s3s-fs, SigV4 checked) on loopback for the test suites.
//!
//! Usage:
//! `strongroom-s3-test-server --root DIR [--host 127.0.0.1] [--port P] --access-key K --secret-key S [--bucket NAME]...`
//!
//! A bucket is a subdirectory of `--root`; every `--bucket` is created on start. Port 0 picks a free
//! port. Once the socket is bound the server prints `listening on http://HOST:PORT` on stdout (and
//! flushes it), then serves until it is killed.

mod longkeys;

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use s3s_fs::FileSystem;
use tokio::net::TcpListener;

const USAGE: &str = "usage: strongroom-s3-test-server --root DIR [--host 127.0.0.1] [--port PORT] \
                     --access-key KEY --secret-key SECRET [--bucket NAME]...";

#[derive(Debug)]
struct Opt {
    root: PathBuf,
    host: String,
    port: u16,
    access_key: String,
    secret_key: String,
    buckets: Vec<String>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Opt> {
    let mut root = None;
    let mut host = "127.0.0.1".to_owned();
    let mut port = 0u16;
    let mut access_key = None;
    let mut secret_key = None;
    let mut buckets = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let mut value = || -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .ok_or_else(|| anyhow!("{flag} needs a value\n{USAGE}")),
            }
        };
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value()?)),
            "--host" => host = value()?,
            "--port" => {
                let v = value()?;
                port = v.parse().with_context(|| format!("bad --port {v:?}"))?;
            }
            "--access-key" => access_key = Some(value()?),
            "--secret-key" => secret_key = Some(value()?),
            "--bucket" => buckets.push(value()?),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let root = root.ok_or_else(|| anyhow!("--root is required\n{USAGE}"))?;
    let access_key = access_key.ok_or_else(|| anyhow!("--access-key is required\n{USAGE}"))?;
    let secret_key = secret_key.ok_or_else(|| anyhow!("--secret-key is required\n{USAGE}"))?;
    for b in &buckets {
        let ok = (3..=63).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
        if !ok {
            bail!("invalid bucket name {b:?} (3-63 chars of a-z 0-9 . -)");
        }
    }
    Ok(Opt {
        root,
        host,
        port,
        access_key,
        secret_key,
        buckets,
    })
}

fn main() -> anyhow::Result<()> {
    let opt = parse_args(std::env::args().skip(1))?;
    std::fs::create_dir_all(&opt.root)
        .with_context(|| format!("creating root {}", opt.root.display()))?;
    for b in &opt.buckets {
        let dir = opt.root.join(b);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating bucket {}", dir.display()))?;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the tokio runtime")?
        .block_on(run(opt))
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let fs = FileSystem::new(&opt.root)
        .map_err(|e| anyhow!("s3s-fs on {}: {e:?}", opt.root.display()))?;
    let service = {
        let fs = longkeys::LongKeys::new(fs, &opt.root)
            .with_context(|| format!("key map under {}", opt.root.display()))?;
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(opt.access_key, opt.secret_key));
        b.build()
    };

    let listener = TcpListener::bind((opt.host.as_str(), opt.port))
        .await
        .with_context(|| format!("binding {}:{}", opt.host, opt.port))?;
    let addr = listener.local_addr().context("local_addr")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}").context("writing to stdout")?;
        out.flush().context("flushing stdout")?;
    }

    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                eprintln!("strongroom-s3-test-server: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                eprintln!("strongroom-s3-test-server: connection error: {err}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::parse_args;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_all_flags_and_repeated_buckets() -> anyhow::Result<()> {
        let o = parse_args(args(&[
            "--root",
            "/tmp/x",
            "--host",
            "127.0.0.1",
            "--port=0",
            "--access-key",
            "K",
            "--secret-key",
            "S",
            "--bucket",
            "one",
            "--bucket",
            "two",
        ]))?;
        assert_eq!(o.port, 0);
        assert_eq!(o.buckets, vec!["one".to_owned(), "two".to_owned()]);
        assert_eq!(o.access_key, "K");
        Ok(())
    }

    #[test]
    fn requires_keys_and_root() {
        assert!(parse_args(args(&["--root", "/tmp/x", "--access-key", "K"])).is_err());
        assert!(parse_args(args(&["--access-key", "K", "--secret-key", "S"])).is_err());
    }

    #[test]
    fn rejects_bad_bucket_names() {
        assert!(
            parse_args(args(&[
                "--root",
                "/r",
                "--access-key",
                "K",
                "--secret-key",
                "S",
                "--bucket",
                "../x"
            ]))
            .is_err()
        );
        assert!(
            parse_args(args(&[
                "--root",
                "/r",
                "--access-key",
                "K",
                "--secret-key",
                "S",
                "--bucket",
                "A"
            ]))
            .is_err()
        );
    }
}
