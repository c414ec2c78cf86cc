"""A raw spec mapping → a validated Spec: the preset's keys under the user's, defaults filled in."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cnnlab.registry import registry
from cnnlab.spec.errors import SpecError, format_validation_error
from cnnlab.spec.schema import Spec


def resolve(raw: dict[str, Any]) -> Spec:
    """Validate a raw spec mapping: preset values under the model's own keys, defaults filled."""
    try:
        return Spec.model_validate(merge_preset(raw))
    except ValidationError as err:
        raise SpecError(format_validation_error(err)) from None


def merge_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """The model section with the preset's keys filled in under the user's (an unknown preset is
    left for validation to report with its key path)."""
    model = raw.get("model")
    preset = model.get("preset") if isinstance(model, dict) else None
    presets = registry("preset")
    if not isinstance(preset, str) or preset not in presets:
        return raw
    return {**raw, "model": {**presets.build(preset), **model}}
