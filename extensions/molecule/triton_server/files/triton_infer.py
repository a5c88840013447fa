"""Send one DICOM-sized CT slice to the ct_window model over Triton's HTTP/REST API and check the answer.

Runs on the controller (needs numpy). Uses the binary tensor extension, so a 512x512
INT16 slice travels as 512 KiB of raw bytes, not as a JSON list. Prints one JSON line
(served version, shape, largest error against the expected result) and exits non-zero
when the answer is wrong.
"""
import argparse
import json
import sys
import urllib.request

import numpy as np


def expected(image, version, params):
    data = image.astype(np.float32)
    if version == 1:
        low = data.min(axis=(1, 2), keepdims=True)
        span = np.maximum(data.max(axis=(1, 2), keepdims=True) - low, 1.0)
        return (data - low) / span
    hounsfield = data * params["RESCALE_SLOPE"] + params["RESCALE_INTERCEPT"]
    low = params["WINDOW_CENTER"] - params["WINDOW_WIDTH"] / 2.0
    return np.clip((hounsfield - low) / params["WINDOW_WIDTH"], 0.0, 1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", default="ct_window")
    parser.add_argument("--expect-version", type=int, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--params", default="{}", help="JSON: the window parameters of version 2")
    args = parser.parse_args()
    params = {k: float(v) for k, v in json.loads(args.params).items()}

    rng = np.random.default_rng(7)
    # Stored CT values 0..4095 (12 bits), as in a 512x512 slice with intercept -1024.
    image = rng.integers(0, 4096, size=(1, args.size, args.size), dtype=np.int16)
    raw = image.tobytes()
    header = json.dumps({
        "inputs": [{"name": "IMAGE", "shape": list(image.shape), "datatype": "INT16",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "NORMALIZED", "parameters": {"binary_data": True}}],
    }).encode()
    request = urllib.request.Request(
        "%s/v2/models/%s/infer" % (args.url, args.model), data=header + raw, method="POST",
        headers={"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
        json_len = int(response.headers.get("Inference-Header-Content-Length", len(body)))
    meta = json.loads(body[:json_len])
    out_meta = meta["outputs"][0]
    result = np.frombuffer(body[json_len:], dtype=np.float32).reshape(out_meta["shape"])
    error = float(np.abs(result - expected(image, args.expect_version, params)).max())
    report = {"model_name": meta["model_name"], "model_version": meta["model_version"],
              "shape": out_meta["shape"], "datatype": out_meta["datatype"], "max_abs_error": error,
              "min": float(result.min()), "max": float(result.max())}
    print(json.dumps(report))
    ok = (meta["model_version"] == str(args.expect_version) and out_meta["datatype"] == "FP32"
          and out_meta["shape"] == list(image.shape) and error < 1e-5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
