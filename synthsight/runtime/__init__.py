"""Run exported models behind one Backend interface: TensorRT, ONNX Runtime or PyTorch."""

from synthsight.runtime.base import Backend, scores_from_logits

__all__ = ["Backend", "scores_from_logits"]
