"""The 16x8 TFLite file holds int16 activations and int8 conv weights, and computes what the
torch w8a16 simulation of the same student computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stylectl.pipelines.models.student import StudentNet, student_params

pytestmark = pytest.mark.slow

SIZE = 32
MIN_PSNR = 35.0
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
TRAIN_STEPS = 40


def _student(photos: torch.Tensor) -> nn.Module:
    """A tiny student briefly trained to invert photos: freshly built, its context convs are zero
    and its output ~0.5 whatever the input, which any file would match."""
    torch.manual_seed(0)
    model = StudentNet(**student_params(0.5, 1, 1.5, context=True))
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(TRAIN_STEPS):
        loss = (model(photos) - (1 - photos)).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The 16x8 file, its calibration crops, and the w8a16 simulation's outputs and the file's on
    held-out photos."""
    from stylectl.pipelines.config import SchemeConfig
    from stylectl.pipelines.data import eval_batch, resolve_content
    from stylectl.pipelines.export.tflite import run
    from stylectl.pipelines.export.tflite_16x8 import write_w8a16
    from stylectl.pipelines.quant import pt2e
    from stylectl.pipelines.quant.build import calibrate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-pixel student gains nothing from threads; on busy cores they stall (60 s vs 1 s)
    try:
        photos = resolve_content("builtin:photos", 0.2)
        crops = list(eval_batch(photos.train[:16], SIZE))
        model = _student(torch.stack(crops))
        scheme = SchemeConfig(name="w8a16", activation_bits=16)
        prepared = pt2e.prepare(model, SIZE, scheme)
        calibrate(prepared, crops)
        simulation = pt2e.convert(prepared, scheme)

        path = tmp_path_factory.mktemp("tflite_16x8") / "student.tflite"
        write_w8a16(model, crops, SIZE, path)
        images = eval_batch(photos.heldout, SIZE)
        with torch.no_grad():
            expected = torch.cat([simulation(image[None]) for image in images])
        return path, torch.stack(crops), expected, run(path, images, 1, {"nhwc": False})
    finally:
        torch.set_num_threads(threads)


def test_activations_are_int16_and_conv_weights_int8(exported):
    from stylectl.pipelines.export.tflite import inspect, interpreter

    path, _, _, _ = exported
    assert sorted(path.parent.iterdir()) == [path]  # the float file and temp file are gone
    info = inspect(path)
    assert info["float_compute_ops"] == [] and info["input_dtype"] == info["output_dtype"] == "int16"
    model, _ = interpreter(path)
    dtypes = {detail["index"]: detail["dtype"] for detail in model.get_tensor_details()}
    convs = [op for op in model._get_ops_details() if op["op_name"] in CONV_OPS]
    assert len(convs) == info["ops"]["CONV_2D"] + info["ops"]["DEPTHWISE_CONV_2D"] > 0
    for op in convs:
        activation, weight, bias = (dtypes[index] for index in op["inputs"])
        assert (activation, weight, bias, dtypes[op["outputs"][0]]) == (np.int16, np.int8, np.int64, np.int16)


def test_output_matches_the_torch_w8a16_simulation(exported):
    from stylectl.pipelines.measure.metrics import psnr

    _, _, expected, output = exported
    assert (expected - expected.mean(0)).std() > 0.05  # an output that ignores its input would match anything
    values = [psnr(one[None], reference[None]) for one, reference in zip(output, expected)]
    print("16x8 file vs torch w8a16 simulation, PSNR dB:", [round(value, 1) for value in values])
    assert min(values) >= MIN_PSNR, values


def test_activation_ranges_are_the_calibration_min_max(exported):
    """Not ai-edge-quantizer's default moving average, whose ranges fall short of what the crops
    reached: the input would clip below the crops' brightest pixel."""
    from stylectl.pipelines.export.tflite import interpreter

    path, crops, _, _ = exported
    model, _ = interpreter(path)
    scale, zero_point = model.get_input_details()[0]["quantization"]
    assert zero_point == 0 and scale * 32767 == pytest.approx(float(crops.abs().max()), rel=1e-4)


def test_a_conv_with_dead_channels_and_a_bias_is_refused(tmp_path):
    """A fresh student's context gain convs (zero weights, bias 1) would come out with bias 0."""
    from stylectl.pipelines.errors import StylectlError
    from stylectl.pipelines.export.tflite_16x8 import write_w8a16

    model = StudentNet(**student_params(0.5, 1, 1.5, context=True)).eval()
    with pytest.raises(StylectlError, match="blocks.0.context.gain"):
        write_w8a16(model, [torch.rand(3, SIZE, SIZE)], SIZE, tmp_path / "fresh.tflite")
    assert list(tmp_path.iterdir()) == []
