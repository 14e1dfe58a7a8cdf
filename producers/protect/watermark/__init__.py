"""Output watermarks that name the licensee: the green-list scheme of Kirchenbauer et al. (2023), keyed per license."""

from .detect import Detection, attribute, detect, z_score
from .generate import logits_processors_for, sample
from .scheme import DELTA, GAMMA, Z_THRESHOLD, GreenList, WatermarkLogitsProcessor

__all__ = ["DELTA", "GAMMA", "Z_THRESHOLD", "Detection", "GreenList", "WatermarkLogitsProcessor", "attribute",
           "detect", "logits_processors_for", "sample", "z_score"]
