"""The watermark as a Hugging Face ``transformers`` LogitsProcessor (torch tensors in and out).

Needs torch and transformers, which meterstream never installs (gigabytes of CUDA
wheels): import this module only where they are. The green lists are the numpy
scheme's, so text generated through transformers is detected by ``detect.py``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..deps import require
from .scheme import DELTA, GAMMA, GreenList


def watermark_processor(key: bytes, vocab_size: int, gamma: float = GAMMA, delta: float = DELTA) -> Any:
    """A ``transformers.LogitsProcessor`` adding ``delta`` to the license's green tokens."""
    torch = require("torch")
    base = require("transformers").LogitsProcessor
    green = GreenList(key, vocab_size, gamma)

    class LicenseWatermark(base):  # type: ignore[misc, valid-type]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            last = input_ids[:, -1].tolist()
            masks = torch.stack([torch.from_numpy(green.mask(int(t))[: scores.shape[-1]]) for t in last])
            return scores + delta * masks.to(device=scores.device, dtype=scores.dtype)

    return LicenseWatermark()


def logits_processor_list(flags: Mapping[str, bool], key: bytes, vocab_size: int) -> Any:
    """A ``LogitsProcessorList`` for ``model.generate``: the watermark when the tier requires it."""
    lst = require("transformers").LogitsProcessorList()
    if flags.get("watermark_required"):
        lst.append(watermark_processor(key, vocab_size))
    return lst
