//! End-to-end: the server on a loopback port, real models and images from ../shared.

mod common;

use common::*;
use mnv2_serve::ServeConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_error_status() {
    let models = [
        spec("cls", "mobilenet_v2_1.0_224_quant.tflite"),
        spec("seg", "deeplabv3_mnv2_dm05_pascal_quant.tflite"),
        spec("det", "ssdlite_mobilenet_v2_pedestrian_frozen.pb"),
    ];
    let server = mnv2_serve::start(local(), &models).await.expect("server starts");
    let addr = server.addr;

    let list = get(addr, "/v1/models").await.json();
    let tasks: Vec<&str> = list["models"].as_array().unwrap().iter().map(|m| m["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["classify", "segment", "detect"]);

    // Classification, raw body and multipart: the reference label of cat.bmp.
    let cat = image("cat.bmp");
    let a = post(addr, "/v1/models/cls/classify?top=3", "image/bmp", &cat).await;
    assert_eq!(a.status, 200);
    let top = a.json()["top"].as_array().unwrap().clone();
    assert_eq!((top.len(), top[0]["label"].as_str()), (3, Some("Egyptian cat")));
    let mut form = b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cat.bmp\"\r\nContent-Type: image/bmp\r\n\r\n".to_vec();
    form.extend_from_slice(&cat);
    form.extend_from_slice(b"\r\n--XyZ--\r\n");
    let a = post(addr, "/v1/models/cls/classify", "multipart/form-data; boundary=XyZ", &form).await;
    assert_eq!(a.json()["top"][0]["label"], "Egyptian cat");

    // Segmentation: the dog covers a good part of its picture; the overlay as PNG.
    let dog = image("dog_segmentation.bmp");
    let v = post(addr, "/v1/models/seg/segment", "image/bmp", &dog).await.json();
    let dog_share =
        v["classes"].as_array().unwrap().iter().find(|c| c["label"] == "dog").map(|c| c["fraction"].as_f64());
    assert!(dog_share.flatten().is_some_and(|f| f > 0.1), "{v}");
    let png = post(addr, "/v1/models/seg/segment?format=png", "image/bmp", &dog).await;
    assert_eq!((png.status, png.header("content-type")), (200, Some("image/png")));
    assert!(png.body.starts_with(b"\x89PNG"));

    // Detection: pedestrians in kite_and_cold.jpg; boxes drawn as PNG.
    let kite = image("kite_and_cold.jpg");
    let v = post(addr, "/v1/models/det/detect?score_threshold=0.3", "image/jpeg", &kite).await.json();
    let people = v["detections"].as_array().unwrap();
    assert!(
        !people.is_empty() && people.iter().all(|d| d["label"] == "pedestrian" && d["score"].as_f64() >= Some(0.3))
    );
    let png = post(addr, "/v1/models/det/detect?format=png", "image/jpeg", &kite).await;
    assert!(png.status == 200 && png.body.starts_with(b"\x89PNG"));

    // Every error status, as JSON.
    for (path, kind, body, status) in [
        ("/v1/models/cls/classify", "image/png", &b"not an image"[..], 400),
        ("/v1/models/nope/classify", "image/bmp", &cat[..], 404),
        ("/v1/models/cls/segment", "image/bmp", &cat[..], 404),
        ("/v1/models/cls/classify", "text/plain", &cat[..], 415),
        ("/v1/models/cls/classify?top=0", "image/bmp", &cat[..], 422),
        ("/v1/models/det/detect?score_threshold=2", "image/bmp", &cat[..], 422),
        ("/v1/models/cls/classify?color=red", "image/bmp", &cat[..], 422),
    ] {
        let a = post(addr, path, kind, body).await;
        assert_eq!(a.status, status, "{path} {kind}: {}", String::from_utf8_lossy(&a.body));
        assert!(a.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // 413 from the declared length alone: the body is never sent, the answer comes anyway.
    let a = send(
        addr,
        "POST /v1/models/cls/classify HTTP/1.1\r\nContent-Type: image/jpeg\r\nContent-Length: 104857600",
        b"",
    )
    .await;
    assert_eq!(a.status, 413);

    // Operations.
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(get(addr, "/readyz").await.status, 200);
    let spec = get(addr, "/openapi.json").await.json();
    assert!(spec["paths"]["/v1/models/{name}/{task}"]["post"].is_object());
    let page = String::from_utf8(get(addr, "/").await.body).unwrap();
    assert!(page.contains("<title>mnv2</title>") && page.contains("/v1/models"));
    let metrics = String::from_utf8(get(addr, "/metrics").await.body).unwrap();
    for line in [
        "mnv2_requests_total{route=\"/v1/models/{name}/{task}\",status=\"413\"} 1",
        "mnv2_requests_total{route=\"/v1/models/{name}/{task}\",status=\"415\"} 1",
        "mnv2_queue_depth{model=\"cls\"} 0",
        "mnv2_batch_size_count",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_with_retry_after() {
    let config = ServeConfig { queue: 0, ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let a = post(server.addr, "/v1/models/cls/classify", "image/bmp", &image("cat.bmp")).await;
    assert_eq!((a.status, a.header("retry-after")), (503, Some("1")));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    let server = mnv2_serve::start(local(), &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let addr = server.addr;
    // A request whose body is half sent when the shutdown begins.
    let cat = image("cat.bmp");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/models/cls/classify HTTP/1.1\r\nHost: t\r\nContent-Type: image/bmp\r\nContent-Length: {}\r\n\r\n",
        cat.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&cat[..cat.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "no new connections once the shutdown has begun");
    s.write_all(&cat[cat.len() / 2..]).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.expect("answered").unwrap();
    let a = parse(&raw);
    assert_eq!((a.status, a.json()["top"][0]["label"].as_str()), (200, Some("Egyptian cat")));
    tokio::time::timeout(Duration::from_secs(10), stopping).await.expect("shutdown ends").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let config = ServeConfig { header_timeout: Duration::from_secs(1), ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /v1/models/cls/classify HTTP/1.1\r\nHost: slow\r\n").await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the connection is closed after the header timeout");
    // Others are still served.
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_engine_batches() {
    let config = ServeConfig { max_wait: Duration::from_millis(300), max_batch: 8, ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let addr = server.addr;
    for a in classify_cat_at_once(addr, 8).await {
        assert_eq!(a.json()["top"][0]["label"], "Egyptian cat");
    }
    // Eight requests in fewer than eight batches: some batch held several.
    let (batches, requests) = (metric(addr, "mnv2_batch_size_count").await, metric(addr, "mnv2_batch_size_sum").await);
    assert_eq!(requests, 8.0);
    assert!(batches < 8.0, "{batches} batches for 8 concurrent requests");
    server.shutdown().await;
}

/// A batch waits for company only while other requests are on their way: a lone request, once
/// queued, runs at once, however long `max_wait` is (here 3 s, against a classification of some
/// milliseconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_does_not_wait_for_company() {
    let config = ServeConfig { instances: 1, max_wait: Duration::from_secs(3), ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let cat = image("cat.bmp");
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = post(server.addr, "/v1/models/cls/classify", "image/bmp", &cat).await;
        assert_eq!(answer.json()["top"][0]["label"], "Egyptian cat");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "a lone request took {took:?}: it waited for company");
    }
    server.shutdown().await;
}

/// With two instances of one thread, a request that comes alone runs on the engine of both
/// cores (counted in /metrics) and is answered as the CLI's int8 classifier answers it; several at
/// once still run on the instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_runs_on_every_core() {
    let config = ServeConfig { instances: 2, threads: 1, max_batch: 4, ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let addr = server.addr;
    let cat = image("cat.bmp");
    for _ in 0..3 {
        let top = post(addr, "/v1/models/cls/classify", "image/bmp", &cat).await.json()["top"][0].clone();
        assert_eq!((top["label"].as_str(), top["score"].as_f64()), (Some("Egyptian cat"), Some(0.734375)), "{top}");
    }
    let cores = std::thread::available_parallelism().unwrap().get();
    let whole = metric(addr, "mnv2_whole_machine_batches_total").await;
    assert_eq!(whole, if cores > 1 { 3.0 } else { 0.0 }, "lone requests on the engine of every core");
    for a in classify_cat_at_once(addr, 16).await {
        assert_eq!(a.json()["top"][0]["score"].as_f64(), Some(0.734375));
    }
    assert_eq!(metric(addr, "mnv2_batch_size_sum").await, 19.0);
    server.shutdown().await;
}

/// Two engine instances of one thread each take batches from one queue and decode their own
/// images: every request is answered, each as the CLI's int8 classifier answers it (73.4375%
/// Egyptian cat), and an image that does not decode is a 400 from the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_one_queue() {
    let config = ServeConfig { instances: 2, threads: 1, max_batch: 4, ..local() };
    let server = mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await.unwrap();
    let addr = server.addr;
    for a in classify_cat_at_once(addr, 16).await {
        let top = a.json()["top"][0].clone();
        assert_eq!(top["label"], "Egyptian cat");
        assert_eq!(top["score"].as_f64(), Some(0.734375), "{top}");
    }
    assert_eq!(metric(addr, "mnv2_batch_size_sum").await, 16.0);
    let bad = post(addr, "/v1/models/cls/classify", "image/jpeg", b"\xff\xd8\xff not a jpeg").await;
    assert_eq!(bad.status, 400, "{:?}", bad.json());
    assert_eq!(post(addr, "/v1/models/cls/classify", "image/bmp", &image("cat.bmp")).await.status, 200);
    server.shutdown().await;
}

/// `clients` concurrent requests to classify cat.bmp with model `cls`; their answers.
async fn classify_cat_at_once(addr: std::net::SocketAddr, clients: usize) -> Vec<Answer> {
    let cat = std::sync::Arc::new(image("cat.bmp"));
    let sent: Vec<_> = (0..clients)
        .map(|_| {
            let cat = cat.clone();
            tokio::spawn(async move { post(addr, "/v1/models/cls/classify", "image/bmp", &cat).await })
        })
        .collect();
    let mut answers = Vec::new();
    for s in sent {
        answers.push(s.await.unwrap());
    }
    answers
}

/// The value of the first `/metrics` line that starts with `name`.
async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let metrics = String::from_utf8(get(addr, "/metrics").await.body).unwrap();
    let line = metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_out_of_range_are_refused() {
    let config = ServeConfig { instances: 65, ..local() };
    match mnv2_serve::start(config, &[spec("cls", "mobilenet_v2_1.0_224_quant.tflite")]).await {
        Err(e) => assert_eq!(e.to_string(), "bad setting: instances must be 1 to 64 (0: automatic)"),
        Ok(_) => panic!("65 instances were accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_models_of_one_name_are_refused() {
    let twice = [spec("cls", "mobilenet_v2_1.0_224_quant.tflite"), spec("cls", "tf2_mobilenet_v2_1.0_224_ptq.tflite")];
    match mnv2_serve::start(local(), &twice).await {
        Err(e) => assert_eq!(e.to_string(), "two models are named \"cls\""),
        Ok(_) => panic!("a second model named cls was accepted"),
    }
}

/// A torchvision model is prepared as torchvision does (shorter side resized, then the central
/// crop), not as TF-slim models are: its top five on cat.bmp are PyTorch's on the reference input
/// made that way (`reference/torchvision/input4`), with PyTorch's probabilities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torchvision_models_are_prepared_as_torchvision_does() {
    let raw = std::fs::read(mnv2_testdata::shared_file("reference/torchvision/input4.pytorch.f32")).unwrap();
    let logits: Vec<f64> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect();
    let top = logits.iter().cloned().fold(f64::MIN, f64::max);
    let sum: f64 = logits.iter().map(|l| (l - top).exp()).sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));

    let server = mnv2_serve::start(local(), &[spec("tv", "torchvision_mobilenet_v2_random.pth")]).await.unwrap();
    let a = post(server.addr, "/v1/models/tv/classify?top=5", "image/bmp", &image("cat.bmp")).await;
    assert_eq!(a.status, 200);
    let answer = a.json()["top"].as_array().unwrap().clone();
    for (p, &want) in answer.iter().zip(&order[..5]) {
        let score = p["score"].as_f64().unwrap();
        let pytorch = (logits[want] - top).exp() / sum;
        assert_eq!(p["index"].as_u64(), Some(want as u64), "{answer:?}");
        assert!((score - pytorch).abs() < 1e-5, "index {want}: {score} against PyTorch's {pytorch}");
    }
    server.shutdown().await;
}
