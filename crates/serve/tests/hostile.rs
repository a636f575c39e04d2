//! Hostile clients: huge and endless bodies, decompression bombs, malformed multipart, slow and
//! idle connections by the hundred. Each gets its specified answer (or is cut off) and the server
//! goes on serving everyone else.

mod common;

use common::*;
use mnv2_serve::ServeConfig;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLS: &str = "mobilenet_v2_1.0_224_quant.tflite";

async fn still_serving(addr: std::net::SocketAddr) {
    let a = post(addr, "/v1/models/cls/classify", "image/bmp", &image("cat.bmp")).await;
    assert_eq!((a.status, a.json()["top"][0]["label"].as_str()), (200, Some("Egyptian cat")));
}

/// Writes `head` and then up to `total` body bytes in 64 KiB pieces while reading the answer;
/// returns the answer and how many body bytes went out before it was complete.
async fn push_body(addr: std::net::SocketAddr, head: &str, total: usize) -> (Answer, usize) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = s.into_split();
    tx.write_all(format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        let piece = vec![0xABu8; 64 << 10];
        while counter.load(std::sync::atomic::Ordering::SeqCst) < total {
            if tx.write_all(&piece).await.is_err() {
                break; // closed: the server has answered
            }
            counter.fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the head and the body its Content-Length announces are in.
    while !complete(&raw) {
        match tokio::time::timeout(Duration::from_secs(10), rx.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    (parse(&raw), sent.load(std::sync::atomic::Ordering::SeqCst))
}

fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
    len.is_some_and(|n: usize| raw.len() >= end + 4 + n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_bombs_and_bad_multipart_are_refused() {
    let config = ServeConfig { max_body: 1 << 20, ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", CLS)]).await.unwrap();
    let addr = server.addr;

    // 100 MB announced and really sent: 413, long before the 100 MB are through.
    let head = "POST /v1/models/cls/classify HTTP/1.1\r\nContent-Type: image/jpeg\r\nContent-Length: 104857600";
    let (a, sent) = push_body(addr, head, 100 << 20).await;
    assert_eq!(a.status, 413);
    assert!(sent < 50 << 20, "the server stopped reading after {sent} bytes");

    // The same without a length (chunked, endless): cut at the limit, 413.
    let head = "POST /v1/models/cls/classify HTTP/1.1\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked";
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{head}\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let chunk = [format!("{:x}\r\n", 1 << 16).into_bytes(), vec![7u8; 1 << 16], b"\r\n".to_vec()].concat();
    for _ in 0..40 {
        if s.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    assert_eq!(parse(&raw).status, 413);

    // Decompression bombs: refused from the header (the pixel cap), in well under a second.
    for (what, bytes) in [
        ("PNG 100000 x 100000", mnv2_testdata::png_header_declaring(100_000, 100_000)),
        ("PNG 2^31 x 2^31", mnv2_testdata::png_header_declaring(1 << 31, 1 << 31)),
    ] {
        let start = Instant::now();
        let a = post(addr, "/v1/models/cls/classify", "image/png", &bytes).await;
        assert_eq!(a.status, 400, "{what}: {}", String::from_utf8_lossy(&a.body));
        assert!(start.elapsed() < Duration::from_secs(2), "{what} took {:?}", start.elapsed());
    }

    // Malformed multipart: a wrong boundary, a truncated part, no file at all.
    let cat = image("cat.bmp");
    let part = |boundary: &str, end: bool| {
        let mut b =
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"c.bmp\"\r\n\r\n")
                .into_bytes();
        b.extend_from_slice(&cat[..if end { cat.len() } else { 1000 }]);
        if end {
            b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        }
        b
    };
    for (kind, body) in [
        ("multipart/form-data; boundary=AAA", part("BBB", true)),
        ("multipart/form-data; boundary=AAA", part("AAA", false)),
        ("multipart/form-data", part("AAA", true)),
        (
            "multipart/form-data; boundary=AAA",
            b"--AAA\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--AAA--\r\n".to_vec(),
        ),
    ] {
        let a = post(addr, "/v1/models/cls/classify", kind, &body).await;
        assert_eq!(a.status, 400, "{kind}: {}", String::from_utf8_lossy(&a.body));
    }
    still_serving(addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_lock_others_out() {
    // 1,000 connections that send nothing (held open: their header deadline is far off) while a
    // real client comes: it is served at once, the idle ones each costing a parked task.
    let config = ServeConfig { header_timeout: Duration::from_secs(20), ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", CLS)]).await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(5), still_serving(server.addr)).await.expect("served despite the crowd");
    drop(idle);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_408() {
    let config = ServeConfig { body_timeout: Duration::from_secs(1), ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", CLS)]).await.unwrap();
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head =
        "POST /v1/models/cls/classify HTTP/1.1\r\nHost: t\r\nContent-Type: image/bmp\r\nContent-Length: 1000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[0u8; 10]).await.unwrap(); // then nothing more
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await.expect("answered").unwrap();
    assert_eq!(parse(&raw).status, 408);
    still_serving(server.addr).await;
    server.shutdown().await;
}
