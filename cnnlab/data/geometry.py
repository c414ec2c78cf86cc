"""`resize` and `pad`: change every image's size once, at load time, on the uint8 tensors."""

from __future__ import annotations

from cnnlab.data.source import DatasetInfo, RawSplit

RESIZE_CHUNK = 4096  # images resized at a time: bounds the float working copy


def output_info(info: DatasetInfo, resize: tuple[int, int] | None, pad: int) -> DatasetInfo:
    """The shape the model sees after resizing and then padding (no files, no torch)."""
    height, width = resize if resize is not None else (info.height, info.width)
    return DatasetInfo(info.channels, height + 2 * pad, width + 2 * pad, info.num_classes, info.class_names)


def reshape_split(split: RawSplit, resize: tuple[int, int] | None, pad: int) -> RawSplit:
    """Resize (bilinear, antialiased, rounded back to uint8), then zero-pad every side by `pad`."""
    import torch
    import torch.nn.functional as F

    images = split.images
    if resize is not None and tuple(images.shape[2:]) != tuple(resize):
        out = torch.empty((len(images), images.shape[1], *resize), dtype=torch.uint8,
                          memory_format=torch.channels_last)
        for start in range(0, len(images), RESIZE_CHUNK):
            chunk = images[start:start + RESIZE_CHUNK].float()
            chunk = F.interpolate(chunk, size=resize, mode="bilinear", antialias=True, align_corners=False)
            out[start:start + RESIZE_CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
        images = out
    if pad:
        images = F.pad(images, (pad, pad, pad, pad))
    return RawSplit(images, split.labels) if images is not split.images else split
