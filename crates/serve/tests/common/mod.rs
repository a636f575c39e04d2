//! A server on a loopback port and requests written byte by byte over TCP (no client library
//! between the tests and the wire).
#![allow(dead_code)] // each test file uses its own part

use mnv2_serve::{ModelSpec, ServeConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn spec(name: &str, file: &str) -> ModelSpec {
    ModelSpec { name: name.into(), path: mnv2_testdata::shared_file(format!("models/{file}")) }
}

pub fn local() -> ServeConfig {
    ServeConfig { addr: "127.0.0.1:0".parse().unwrap(), threads: 2, ..ServeConfig::default() }
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body`, reads the answer.
pub async fn send(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    // The server may answer and close before the whole body is in (an early 4xx): read anyway.
    let _ = s.write_all(&req).await;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    parse(&raw)
}

pub fn parse(raw: &[u8]) -> Answer {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        body = unchunk(&body);
    }
    Answer { status, headers, body }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[line_end + 2 + size + 2..];
    }
}

pub async fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Answer {
    send(addr, &format!("POST {path} HTTP/1.1\r\nContent-Type: {content_type}\r\nContent-Length: {}", body.len()), body)
        .await
}

pub async fn get(addr: std::net::SocketAddr, path: &str) -> Answer {
    send(addr, &format!("GET {path} HTTP/1.1"), b"").await
}

pub fn image(name: &str) -> Vec<u8> {
    std::fs::read(mnv2_testdata::shared_file(format!("images/{name}"))).expect("test image")
}
