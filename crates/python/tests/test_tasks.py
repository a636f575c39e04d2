"""mnv2.Segmenter and mnv2.Detector against the TFLite reference and the CLI; the GIL released."""

import threading
import time

import numpy as np
import pytest

import mnv2
from conftest import IMAGES, MODELS, QUANT, REFERENCE, SHARED, cli_json_lines

DEEPLAB = MODELS / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
SSDLITE = MODELS / "ssdlite_mobilenet_v2_pedestrian_frozen.pb"


def test_segmentation_equals_tflite_reference():
    """A 513x513 image fills the input exactly: the class map is TFLite's, byte for byte."""
    s = mnv2.Segmenter(DEEPLAB, threads=2)
    assert s.precision == "int8" and s.labels[15] == "person"
    classes = s.segment(str(IMAGES / "bird_segmentation.bmp"))
    assert classes.shape == (513, 513) and classes.dtype == np.uint8
    ref = np.fromfile(REFERENCE / "segmentation" / f"bird_segmentation.{DEEPLAB.stem}.argmax.u8", dtype=np.uint8)
    assert np.array_equal(classes.ravel(), ref)
    summary = s.summary(classes)
    assert summary[0]["label"] == "background" and summary[1]["label"] == "bird"
    assert abs(sum(c["fraction"] for c in summary) - 1.0) < 1e-9
    overlay = s.overlay(str(IMAGES / "bird_segmentation.bmp"), classes)
    assert overlay.shape == (513, 513, 3) and overlay.dtype == np.uint8
    # Any size: the map comes back at the image's own size.
    pets = s.segment(str(IMAGES / "pets.jpg"))
    from PIL import Image

    w, h = Image.open(IMAGES / "pets.jpg").size
    assert pets.shape == (h, w)
    with pytest.raises(mnv2.Error, match="class map"):
        s.overlay(str(IMAGES / "pets.jpg"), classes)


def test_detection_equals_cli(tmp_path):
    """Boxes, labels and scores as `mnv2 detect --json` prints them (to its 0.1 px and 1e-4)."""
    pictures = sorted((SHARED / "datasets" / "PennFudanPed" / "Images").iterdir())[:3]
    d = mnv2.Detector(SSDLITE, threads=2)
    assert d.labels[1] == "pedestrian"
    ours = d.detect([str(p) for p in pictures], score_threshold=0.3)
    cli = cli_json_lines("detect", "--json", "--out", str(tmp_path), "--model", str(SSDLITE), *map(str, pictures))
    assert len(ours) == len(cli) == 3
    for found, theirs in zip(ours, cli):
        theirs = theirs["detections"]
        assert len(found) == len(theirs) > 0
        for a, b in zip(found, theirs):
            assert a["label"] == b["label"] == "pedestrian" and a["class"] == b["class"] == 1
            assert np.allclose(a["box"], b["box"], atol=0.051)
            assert abs(a["score"] - b["score"]) <= 0.00005
    drawn = d.draw(str(pictures[0]))
    assert drawn.ndim == 3 and drawn.shape[2] == 3 and drawn.dtype == np.uint8
    with pytest.raises(ValueError, match="score_threshold"):
        d.detect(str(pictures[0]), score_threshold=2.0)


def test_gil_is_released_during_inference():
    """Two Python threads, each with its own one-thread classifier, run in about the time of one
    (with the GIL held they would take twice as long)."""
    runs = 60
    classifiers = [mnv2.Classifier(QUANT, threads=1) for _ in range(2)]
    batch = classifiers[0].preprocess(str(IMAGES / "cat.bmp"))

    def work(c):
        for _ in range(runs):
            c.output_bytes(batch)

    def alone():
        t = time.perf_counter()
        work(classifiers[0])
        return time.perf_counter() - t

    def together():
        threads = [threading.Thread(target=work, args=(c,)) for c in classifiers]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return time.perf_counter() - t

    work(classifiers[1])  # warm both
    # Alternating, best of five each: other processes on a 2-core machine only add time. With
    # the GIL held the two threads' runs would be serial (2x); released they overlap (~1x).
    ones, twos = [], []
    for _ in range(5):
        ones.append(alone())
        twos.append(together())
    one, two = min(ones), min(twos)
    print(f"one thread {one:.3f} s, two threads {two:.3f} s for {runs} runs each: {two / one:.2f}x")
    assert two < 1.7 * one, f"two threads took {two / one:.2f}x the time of one: is the GIL held?"


def test_one_classifier_shared_by_threads():
    """Threads calling one classifier take turns and all get the right answer."""
    c = mnv2.Classifier(QUANT, threads=1)
    expected = c.classify(str(IMAGES / "cat.bmp"), top=1)
    results, errors = [], []

    def work():
        try:
            for _ in range(10):
                results.append(c.classify(str(IMAGES / "cat.bmp"), top=1))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(results) == 40 and all(r == expected for r in results)
