"""Builds crates/heads/tests/fixtures/coco_fixture.json: a small synthetic COCO ground truth and
detection set (two categories, crowd regions, duplicates, near misses, one image with more than
100 detections) and what pycocotools' COCOeval (bbox) computes for it. The Rust test checks
mnv2's COCO AP against these numbers.

    python3 -m venv /tmp/cocoenv && /tmp/cocoenv/bin/pip install pycocotools numpy
    /tmp/cocoenv/bin/python tools/coco_fixture.py
"""
import json, os, random, contextlib, io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

rng = random.Random(7)
images, anns, dets = [], [], []
for img_id in range(1, 13):
    W, H = rng.randint(200, 640), rng.randint(200, 480)
    images.append({"id": img_id, "file_name": f"img{img_id:02d}.jpg", "width": W, "height": H})
    for _ in range(rng.randint(0, 5)):
        w, h = rng.uniform(10, W / 2), rng.uniform(10, H / 2)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        cat = rng.choice([1, 1, 3])
        crowd = 1 if rng.random() < 0.1 else 0
        anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat, "bbox": [x, y, w, h],
                     "area": w * h, "iscrowd": crowd})
        # Detections around the object: jittered copies (some good, some poor), duplicates.
        for _ in range(rng.randint(0, 3)):
            j = rng.choice([0.02, 0.1, 0.25, 0.5])
            dx, dy = rng.gauss(0, j) * w, rng.gauss(0, j) * h
            dw, dh = w * (1 + rng.gauss(0, j)), h * (1 + rng.gauss(0, j))
            dets.append({"image_id": img_id, "category_id": cat if rng.random() < 0.9 else 4 - cat,
                         "bbox": [x + dx, y + dy, max(dw, 1.0), max(dh, 1.0)], "score": round(rng.random(), 4)})
    # Background false positives; image 5 gets 130 of them (more than COCO's 100 per image).
    for _ in range(130 if img_id == 5 else rng.randint(0, 4)):
        w, h = rng.uniform(5, W / 3), rng.uniform(5, H / 3)
        dets.append({"image_id": img_id, "category_id": rng.choice([1, 3]),
                     "bbox": [rng.uniform(0, W - w), rng.uniform(0, H - h), w, h],
                     "score": round(0.6 * rng.random(), 4)})
gt = {"images": images, "annotations": anns,
      "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}
with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO()
    coco.dataset = json.loads(json.dumps(gt))
    coco.createIndex()
    res = coco.loadRes(json.loads(json.dumps(dets)))
    ev = COCOeval(coco, res, "bbox")
    ev.evaluate(); ev.accumulate(); ev.summarize()
out = {"ground_truth": gt, "detections": dets,
       "pycocotools": {"AP": ev.stats[0], "AP50": ev.stats[1], "AP75": ev.stats[2]}}
path = os.path.join(os.path.dirname(__file__), "..", "crates/heads/tests/fixtures/coco_fixture.json")
with open(path, "w") as f:
    json.dump(out, f)
print(out["pycocotools"], len(anns), "objects", len(dets), "detections")
