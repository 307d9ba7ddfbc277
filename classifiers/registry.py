"""The one registry of frame classifiers: the policy enables them by name.

Bundled classifiers are built with no configuration. Pluggable ones are described in the policy's
``frames.settings.models`` under a name of the operator's choosing, with a ``type`` that picks the
loader (``transformers``, ``zero_shot`` or ``onnx``) and that loader's options. Instances are cached
per (name, options), so each model loads once per process.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from classifiers.base import FrameClassifier
from classifiers.faces import HaarFaceDetector
from classifiers.nudenet_detector import NudeNetClassifier
from classifiers.opennsfw import OpenNSFWClassifier

BUNDLED: dict[str, Callable[[], FrameClassifier]] = {
    NudeNetClassifier.name: NudeNetClassifier,
    OpenNSFWClassifier.name: OpenNSFWClassifier,
    HaarFaceDetector.name: HaarFaceDetector,
}
PLUGGABLE: dict[str, str] = {  # type -> "module:class", imported on first use (torch loads slowly)
    "transformers": "classifiers.hf_image:HFImageClassifier",
    "zero_shot": "classifiers.zero_shot:ZeroShotClassifier",
    "onnx": "classifiers.onnx_labels:OnnxLabelClassifier",
}
_INSTANCES: dict[tuple[str, str], FrameClassifier] = {}


def build_classifier(name: str, spec: Mapping[str, Any] | None = None) -> FrameClassifier:
    """The classifier called ``name``: bundled when ``spec`` is None, else built from ``spec``
    (``{"type": "transformers" | "zero_shot" | "onnx", ...options}``)."""
    key = (name, json.dumps(spec, sort_keys=True, default=str))
    if key in _INSTANCES:
        return _INSTANCES[key]
    if spec is None:
        if name not in BUNDLED:
            raise ValueError(f"unknown frame classifier {name!r}: bundled ones are {sorted(BUNDLED)}; "
                             "pluggable ones need an entry under frames.settings.models")
        classifier = BUNDLED[name]()
    else:
        options = dict(spec)
        kind = options.pop("type", None)
        if kind not in PLUGGABLE:
            raise ValueError(f"frame classifier {name!r} has type {kind!r}; expected one of {sorted(PLUGGABLE)}")
        if not options.get("path"):
            raise ValueError(f"frame classifier {name!r} ({kind}) needs a 'path' to a local model")
        module, _, cls = PLUGGABLE[kind].partition(":")
        factory: Callable[..., FrameClassifier] = getattr(importlib.import_module(module), cls)
        try:
            classifier = factory(name=name, **options)
        except TypeError as exc:
            raise ValueError(f"frame classifier {name!r} ({kind}): bad options: {exc}") from exc
    _INSTANCES[key] = classifier
    return classifier
