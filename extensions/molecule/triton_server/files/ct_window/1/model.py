"""ct_window version 1: scale each CT slice to [0, 1] by its own minimum and maximum.

A small Triton python-backend model for tests: input IMAGE (INT16, a DICOM-sized
slice such as 512x512 stored values), output NORMALIZED (FP32, same shape).
It runs the same on KIND_CPU and KIND_GPU instances (the arithmetic is numpy).
"""
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.model_version = int(args["model_version"])

    def execute(self, requests):
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().astype(np.float32)
            axes = tuple(range(1, image.ndim))
            low = image.min(axis=axes, keepdims=True)
            span = np.maximum(image.max(axis=axes, keepdims=True) - low, 1.0)
            out = ((image - low) / span).astype(np.float32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("NORMALIZED", out)]))
        return responses
