"""Turn a model bundle into the files the scanner runs, each checked against PyTorch.

- :func:`synthsight.export.onnx.export_onnx` - uint8 NHWC ``pixels`` -> float32 ``logits`` ONNX, spec in metadata
- :func:`synthsight.export.fp16.convert_fp16` - mixed FP16 ONNX (LayerNorm in FP32) for strongly typed TensorRT
- :func:`synthsight.export.tensorrt.build_engine` - ``NAME.engine`` (pure plan) + ``NAME.engine.json`` sidecar
- :func:`synthsight.export.graph_check.check_file` - the graph is TensorRT-parseable on paper (any machine)
- :mod:`synthsight.export.verify` - parity between backends (max / mean |dp(ai)|, verdict agreement)
- :func:`synthsight.export.pipeline.export_model` - what ``synthsight export`` runs

Submodules import torch, onnx and tensorrt lazily; importing this package loads none of them.
"""
