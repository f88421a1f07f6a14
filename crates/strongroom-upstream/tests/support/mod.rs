//! In-test HTTP/1.1 servers on 127.0.0.1: a scripted origin (status, headers, body chunks with
//! delays; every request recorded) and a small forward proxy (absolute-form GETs and CONNECT
//! tunnels; every request line recorded).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body chunks, written one by one with `chunk_delay` before each.
    pub chunks: Vec<Vec<u8>>,
    pub chunk_delay: Duration,
    /// Wait before the response head.
    pub head_delay: Duration,
    /// Send `Content-Length` (the chunks' total); otherwise the body ends when the connection
    /// closes.
    pub content_length: bool,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            content_length: true,
            ..Reply::default()
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.chunks = vec![body.into()];
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A scripted origin server.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    scheme: &'static str,
}

/// The test CA's certificate (PEM), to trust through `upstream.ca_bundle`.
pub fn test_ca_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem")
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl Server {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(None, handler).await
    }

    /// The same over TLS with the test leaf certificate (`tests/tls/server.pem`).
    pub async fn start_tls(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(Some(tls_acceptor()), handler).await
    }

    async fn start_with(
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let tls_on = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => {
                            let _ = serve_one(conn, handler, seen).await;
                        }
                        Some(tls) => {
                            if let Ok(conn) = tls.accept(conn).await {
                                let _ = serve_one(conn, handler, seen).await;
                            }
                        }
                    }
                });
            }
        });
        Server {
            addr,
            requests,
            scheme: if tls_on { "https" } else { "http" },
        }
    }

    /// `http(s)://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Read a request head (up to the blank line).
async fn read_head<S: AsyncRead + Unpin>(conn: &mut S) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await? == 0 || buf.len() > 64 * 1024 {
            return Ok(None);
        }
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Some(Request {
        method,
        target,
        headers,
    }))
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    let Some(req) = read_head(&mut conn).await? else {
        return Ok(());
    };
    seen.lock().expect("lock").push(req.clone());
    let reply = handler(&req);
    tokio::time::sleep(reply.head_delay).await;
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if reply.content_length {
        let len: usize = reply.chunks.iter().map(Vec::len).sum();
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await?;
    conn.flush().await?;
    for chunk in &reply.chunks {
        tokio::time::sleep(reply.chunk_delay).await;
        conn.write_all(chunk).await?;
        conn.flush().await?;
    }
    conn.shutdown().await?;
    Ok(())
}

/// A forward proxy: `GET http://host:port/path` is forwarded (origin-form) to the host;
/// `CONNECT host:port` opens a tunnel. Request lines are recorded.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let _ = proxy_one(conn, seen).await;
                });
            }
        });
        Proxy { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn proxy_one(mut conn: TcpStream, seen: Arc<Mutex<Vec<Request>>>) -> std::io::Result<()> {
    let Some(req) = read_head(&mut conn).await? else {
        return Ok(());
    };
    seen.lock().expect("lock").push(req.clone());
    if req.method == "CONNECT" {
        let mut upstream = TcpStream::connect(req.target.as_str()).await?;
        conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
        return Ok(());
    }
    let Some(rest) = req.target.strip_prefix("http://") else {
        conn.write_all(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut upstream = TcpStream::connect(authority).await?;
    let mut head = format!("{} {path} HTTP/1.1\r\nConnection: close\r\n", req.method);
    for (n, v) in &req.headers {
        if n != "connection" && n != "proxy-connection" && n != "proxy-authorization" {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    upstream.write_all(head.as_bytes()).await?;
    tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
    Ok(())
}
