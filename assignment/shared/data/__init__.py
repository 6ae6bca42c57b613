"""The hand-written digits data set, shipped with the course (no download).

See ``README.md`` beside this file for its source and licence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Digits", "load_digits"]

_DIGITS_FILE = Path(__file__).with_name("digits.npz")


@dataclass(frozen=True)
class Digits:
    """A fixed train/test split of the 8x8 digits.

    Fields:
        x_train: training images as rows, shaped (1438, 64), scaled to [0, 1].
        y_train: training labels, shaped (1438,), integers 0-9.
        x_test: test images as rows, shaped (359, 64), scaled to [0, 1].
        y_test: test labels, shaped (359,), integers 0-9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]


def load_digits(dtype: type = np.float32) -> Digits:
    """Load the digits with the course's fixed split.

    Args:
        dtype: dtype of the images (pixel intensities 0-16 are divided by 16).

    Returns:
        A ``Digits`` holding the train and test images (flattened to 64 features)
        and their int64 labels.
    """
    with np.load(_DIGITS_FILE) as data:
        images = data["images"].reshape(len(data["labels"]), -1).astype(dtype) / dtype(16)
        labels = data["labels"].astype(np.int64)
        train, test = data["train_index"], data["test_index"]
    return Digits(images[train], labels[train], images[test], labels[test])
