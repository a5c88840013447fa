"""ct_window version 2: rescale stored values to Hounsfield units, apply a CT window, scale to [0, 1].

The rescale slope/intercept and the window come from the model's config.pbtxt parameters
(RESCALE_SLOPE, RESCALE_INTERCEPT, WINDOW_CENTER, WINDOW_WIDTH), as a DICOM viewer would
read them from (0028,1053), (0028,1052), (0028,1050) and (0028,1051).
"""
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})

        def value(key, default):
            return float(params.get(key, {}).get("string_value", default))

        self.slope = value("RESCALE_SLOPE", 1.0)
        self.intercept = value("RESCALE_INTERCEPT", -1024.0)
        center = value("WINDOW_CENTER", 40.0)
        width = value("WINDOW_WIDTH", 400.0)
        self.low = center - width / 2.0
        self.width = width

    def execute(self, requests):
        responses = []
        for request in requests:
            stored = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().astype(np.float32)
            hounsfield = stored * self.slope + self.intercept
            out = np.clip((hounsfield - self.low) / self.width, 0.0, 1.0).astype(np.float32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("NORMALIZED", out)]))
        return responses
