"""The server a user would otherwise write: FastAPI + uvicorn around ONNX Runtime (fp32) or LiteRT
(int8), with PIL preprocessing as in the classifiers' references (central 87.5% crop, bilinear
resize to 224), answering POST /v1/models/cls/classify with the top 5 as JSON, as mnv2 serve does.

    python bench/serve/peer.py --model ../shared/models/X.onnx --port 8090
"""

import argparse
import io

import anyio
import numpy as np
from fastapi import FastAPI, Request, Response
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--port", type=int, default=8090)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

if args.model.endswith(".onnx"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    nchw = session.get_inputs()[0].shape[1] == 3

    def run(x):
        x = (x.astype(np.float32) / 127.5 - 1.0)[None]
        if nchw:
            x = x.transpose(0, 3, 1, 2)
        return session.run(None, {input_name: x})[0][0]
else:
    import threading

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    lock = threading.Lock()  # one interpreter: calls one at a time

    def run(x):
        with lock:
            interpreter.set_tensor(inp["index"], x.astype(inp["dtype"])[None])
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])[0].astype(np.float32)


def prepare(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    cw, ch = round(w * 0.875), round(h * 0.875)
    left, top = (w - cw) // 2, (h - ch) // 2
    img = img.crop((left, top, left + cw, top + ch)).resize((224, 224), Image.BILINEAR)
    return np.asarray(img)


def classify(data: bytes) -> dict:
    scores = run(prepare(data))
    top = np.argsort(scores)[::-1][:5]
    return {"top": [{"index": int(i), "score": float(scores[i])} for i in top]}


app = FastAPI()


@app.post("/v1/models/cls/classify")
async def endpoint(request: Request):
    body = await request.body()
    try:
        return await anyio.to_thread.run_sync(classify, body)
    except Exception as e:  # a bad image
        return Response(content=f'{{"error": "{e}"}}', status_code=400, media_type="application/json")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
