//! Hostile and mistaken input at the command line: every case is refused with one clear line and
//! a defined exit status (1: some inputs failed and the rest were processed; 2: nothing could be
//! done), never an abort (134), a kill for memory (137) or a panic (101). Decompression bombs are
//! refused from their headers: the peak memory of each refusing run is asserted.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// Peak resident memory allowed for a run that refuses a bomb (the model itself is loaded).
const BOMB_RSS_KB: u64 = 100 * 1024;

fn quant_model() -> String {
    model("mobilenet_v2_1.0_224_quant")
}

fn seg_model() -> String {
    model("deeplabv3_mnv2_dm05_pascal_quant")
}

fn det_model() -> String {
    shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb").display().to_string()
}

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG whose header declares `w` x `h` pixels, with the compressed rows of a 64x64 picture.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let noise = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 7 + y) as u8, (x * y) as u8, 3]));
    let mut png = encode(&noise, image::ImageFormat::Png);
    // IHDR's width and height follow the signature (8), the chunk length (4) and type (4).
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = mnv2_testdata::crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A small baseline JPEG whose frame header (SOF0) declares `w` x `h` pixels.
fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = encode(&image::RgbImage::new(8, 8), image::ImageFormat::Jpeg);
    let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC0]).expect("baseline frame header");
    // Marker (2), length (2), precision (1), then height and width.
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

/// A real, complete `side` x `side` PNG (1-bit grey, so it is small and quick to make).
fn real_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut writer = enc.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; side.div_ceil(8) as usize];
        for _ in 0..side {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts one refusal: the exit status, a message on stderr, and no crash.
fn assert_refused(out: &std::process::Output, code: i32, needle: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert!(err.contains(needle), "{what}: expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn decompression_bombs_are_refused_from_the_header_in_every_command() {
    let dir = temp_dir("bombs");
    let bombs = [
        write(&dir, "declared.png", &png_declaring(100_000, 100_000)),
        write(&dir, "declared.jpg", &jpeg_declaring(65_500, 65_500)),
        write(&dir, "real.png", &real_png(30_000)),
    ];
    let out_dir = dir.join("out");
    for bomb in &bombs {
        for cmd in [
            vec!["classify", "--model", &quant_model(), s(bomb)],
            vec!["segment", "--model", &seg_model(), "--out", s(&out_dir), s(bomb)],
            vec!["detect", "--model", &det_model(), "--out", s(&out_dir), s(bomb)],
        ] {
            let m = mnv2_measured(&cmd);
            let what = format!("{} {}", cmd[0], bomb.display());
            assert_refused(&m.output, 1, "pixels, more than the limit of 67108864", &what);
            assert!(m.max_rss_kb < BOMB_RSS_KB, "{what}: peak RSS {} KB", m.max_rss_kb);
        }
        let npy = dir.join("out.npy");
        let m = mnv2_measured(&["run", "--model", &quant_model(), "--input", s(bomb), "--output", s(&npy)]);
        assert_refused(&m.output, 2, "more than the limit", &format!("run {}", bomb.display()));
        assert!(m.max_rss_kb < BOMB_RSS_KB, "run: peak RSS {} KB", m.max_rss_kb);
    }
    // The cap can be raised: the same header then gets as far as the decoder's own checks.
    let out = mnv2(&["classify", "--max-pixels", "64", "--model", &quant_model(), s(&shared_file("images/cat.bmp"))]);
    assert_refused(&out, 1, "more than the limit of 64", "--max-pixels 64");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_file_in_a_folder_is_one_error_line_and_the_rest_go_on() {
    let dir = temp_dir("folder");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    write(&images, "a_bomb.png", &png_declaring(100_000, 100_000));
    let parrot = std::fs::read(shared_file("images/parrot.jpg")).unwrap();
    write(&images, "b_truncated.jpg", &parrot[..parrot.len() / 2]);
    std::fs::copy(shared_file("images/cat.bmp"), images.join("c_cat.bmp")).unwrap();
    write(&images, "d_empty.png", b"");
    let out = mnv2(&["classify", "--model", &quant_model(), "--top", "1", s(&images)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("c_cat.bmp") && stdout.contains("Egyptian cat"), "{stdout}");
    let errors: Vec<String> = text(&out.stderr).lines().map(str::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("a_bomb.png") && errors[0].contains("limit"), "{errors:?}");
    assert!(errors[1].contains("b_truncated.jpg") && errors[1].contains("truncated JPEG"), "{errors:?}");
    assert!(errors[2].contains("d_empty.png"), "{errors:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_jpeg_is_an_error_not_a_grey_picture() {
    let dir = temp_dir("truncated");
    for name in ["parrot.jpg", "face.jpg", "kite_and_cold.jpg"] {
        let bytes = std::fs::read(shared_file("images").join(name)).unwrap();
        let cut = write(&dir, name, &bytes[..bytes.len() / 2]);
        let out = mnv2(&["classify", "--model", &quant_model(), s(&cut)]);
        assert_refused(&out, 1, "truncated JPEG", name);
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out.stdout));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn endless_streams_and_folders_are_not_read_as_files() {
    let out = mnv2(&["classify", "--model", &quant_model(), "/dev/zero"]);
    assert_refused(&out, 1, "/dev/zero is not a regular file", "classify /dev/zero");
    let dir = temp_dir("streams");
    let npy = dir.join("x.npy");
    let out = mnv2(&["run", "--model", &quant_model(), "--input", "/dev/zero", "--output", s(&npy)]);
    assert_refused(&out, 2, "/dev/zero is not a regular file", "run --input /dev/zero");
    let out = mnv2(&["classify", "--model", "/dev/zero", s(&shared_file("images/cat.bmp"))]);
    assert_refused(&out, 2, "/dev/zero is not a regular file", "--model /dev/zero");
    let out = mnv2(&["classify", "--model", s(&dir), s(&shared_file("images/cat.bmp"))]);
    assert_refused(&out, 2, "is not a regular file", "--model FOLDER");
    let out = mnv2(&["classify", "--labels", "/dev/zero", "--model", &quant_model(), "x.jpg"]);
    assert_refused(&out, 2, "/dev/zero is not a regular file", "--labels /dev/zero");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn huge_thread_counts_and_batches_are_refused_before_starting() {
    let cat = shared_file("images/cat.bmp");
    let out = mnv2(&["classify", "--threads", "100000", "--model", &quant_model(), s(&cat)]);
    assert_refused(&out, 2, "100000 threads is more than the limit", "--threads 100000");
    for precision in ["int8", "f32"] {
        let m = mnv2_measured(&["bench", "--model", &quant_model(), "--precision", precision, "--batch", "100000"]);
        assert_refused(&m.output, 2, "a batch of 100000 needs", &format!("bench {precision}"));
        assert!(m.max_rss_kb < BOMB_RSS_KB, "bench {precision}: peak RSS {} KB", m.max_rss_kb);
    }
    let out = mnv2(&["classify", "--batch", "100000", "--model", &quant_model(), s(&cat)]);
    assert_refused(&out, 2, "a batch of 100000 needs", "classify --batch 100000");
    // Within a raised limit the same batch is attempted (and the message says how to raise it).
    assert!(text(&out.stderr).contains("--max-memory"), "{}", text(&out.stderr));
}

#[test]
fn training_values_are_checked_as_they_are_parsed() {
    let base = ["train", "--data", "nowhere", "--val", "nowhere", "-o", "nowhere.safetensors"];
    let cases: &[(&[&str], &str)] = &[
        (&["--batch", "0"], "--batch"),
        (&["--lr", "NaN"], "--lr"),
        (&["--lr=-1"], "--lr"),
        (&["--lr", "0"], "--lr"),
        (&["--ema", "2"], "--ema"),
        (&["--ema", "1"], "--ema"),
        (&["--label-smoothing", "2"], "--label-smoothing"),
        (&["--weight-decay", "inf"], "--weight-decay"),
        (&["--epochs", "0"], "--epochs"),
        (&["--stop-after", "0"], "--stop-after"),
    ];
    for (extra, flag) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let out = mnv2(&args);
        assert_refused(
            &out,
            2,
            &format!("invalid value '{}' for '{flag}", extra.last().unwrap().rsplit('=').next().unwrap()),
            flag,
        );
    }
    let det = ["train-det", "--data", "nowhere", "-o", "x.safetensors"];
    for (extra, flag) in
        [(["--holdout", "1"], "--holdout"), (["--zoom-out", "0.5"], "--zoom-out"), (["--batch", "0"], "--batch")]
    {
        let args: Vec<&str> = det.iter().chain(extra.iter()).copied().collect();
        assert_refused(&mnv2(&args), 2, &format!("for '{flag}"), flag);
    }
}

#[test]
fn resume_refuses_changed_options_and_says_when_finished() {
    let dir = temp_dir("resume");
    let (train, val) = (flowers(&dir, "train", 3), flowers(&dir, "val", 1));
    // The output folder does not exist yet: it is created.
    let out = dir.join("runs/probe/out.safetensors");
    let init = quant_model();
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--data", s(&train), "--val", s(&val), "--init", &init, "--freeze-backbone"];
        args.extend(["--batch", "2", "--epochs", "2", "-o", s(&out)]);
        args.extend(extra);
        mnv2(&args)
    };
    let first = run(&["--stop-after", "1"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let changed = run(&["--resume", "--lr", "0.5"]);
    assert_refused(&changed, 2, "--lr 0.001 -> 0.5", "resume with another --lr");
    assert!(text(&changed.stderr).contains("--allow-changes"), "{}", text(&changed.stderr));
    let allowed = run(&["--resume", "--lr", "0.5", "--allow-changes"]);
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert!(text(&allowed.stderr).contains("resuming with changed options: --lr 0.001 -> 0.5"));
    let metrics = std::fs::read_to_string(dir.join("runs/probe/out.metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    let again = run(&["--resume", "--lr", "0.5", "--allow-changes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("training already finished (2 of 2 epochs); nothing to do"),
        "{}",
        text(&again.stderr)
    );
    let missing = mnv2(&[
        "train",
        "--data",
        s(&train),
        "--val",
        s(&val),
        "--init",
        &init,
        "--freeze-backbone",
        "--resume",
        "-o",
        s(&dir.join("never.safetensors")),
    ]);
    assert_refused(&missing, 2, "nothing to resume from", "resume without a checkpoint");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_not_followed() {
    let dir = temp_dir("symlinks");
    let images = dir.join("images");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    std::fs::copy(shared_file("images/cat.bmp"), images.join("sub/cat.bmp")).unwrap();
    std::os::unix::fs::symlink(&images, images.join("sub/back_to_top")).unwrap();
    std::os::unix::fs::symlink("..", images.join("sub/up")).unwrap();
    let out = mnv2(&["classify", "--json", "--model", &quant_model(), s(&images)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1, "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn write_failures_say_cannot_write_and_name_the_path() {
    let dir = temp_dir("writes");
    let file = write(&dir, "a_file", b"x");
    let cat = shared_file("images/cat.bmp");
    // An output folder that cannot be made (a file is in the way).
    let out = mnv2(&["segment", "--model", &seg_model(), "--out", s(&file.join("sub")), s(&cat)]);
    assert_refused(&out, 2, &file.join("sub").display().to_string(), "segment --out under a file");
    // An output file that cannot be written (a folder has its name): one error line, exit 1.
    let out_dir = dir.join("out");
    std::fs::create_dir_all(out_dir.join("cat.boxes.png")).unwrap();
    let out = mnv2(&["detect", "--model", &det_model(), "--out", s(&out_dir), s(&cat)]);
    assert_refused(&out, 1, &format!("cannot write {}", out_dir.join("cat.boxes.png").display()), "detect");
    assert!(!text(&out.stderr).contains("cannot decode"), "{}", text(&out.stderr));
    // A training output under a file.
    let target = file.join("model.safetensors");
    let out = mnv2(&["train", "--data", "x", "--val", "y", "--init", &quant_model(), "-o", s(&target)]);
    assert_refused(&out, 2, &format!("cannot create the folder {}", file.display()), "train -o under a file");
    std::fs::remove_dir_all(&dir).ok();
}
