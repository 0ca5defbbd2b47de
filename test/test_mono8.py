"""mono8_values, the one decoder of mono8 masks (ground truth in bags, the node's class masks)."""
from __future__ import annotations

import numpy as np
import pytest

from cicld_ros.messages.image_codec import InputError, mono8_image, mono8_values
from cicld_ros.messages.records import Header, Image


def test_mono8_values_inverts_mono8_image_and_honours_the_row_step():
    values = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    np.testing.assert_array_equal(mono8_values(mono8_image(Header(), values)), values)
    padded = np.zeros((5, 9), np.uint8)
    padded[:, :7] = values
    msg = Image(header=Header(), height=5, width=7, encoding="mono8", step=9, data=padded.ravel())
    np.testing.assert_array_equal(mono8_values(msg), values)


@pytest.mark.parametrize("changes,reason", [(dict(encoding="rgb8"), "unsupported_encoding"),
                                            (dict(step=6), "bad_step"), (dict(height=6), "short_data")])
def test_a_malformed_mono8_image_is_refused_clearly(changes, reason):
    fields = dict(header=Header(), height=5, width=7, encoding="mono8", step=7, data=np.zeros(35, np.uint8))
    with pytest.raises(InputError) as error:
        mono8_values(Image(**(fields | changes)))
    assert error.value.reason == reason
