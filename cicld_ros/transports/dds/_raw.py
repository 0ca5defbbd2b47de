"""
The one place that touches cyclonedds-python internals.

Writing and taking samples as raw serialized bytes, bypassing the Python per-field serializer.

Checked against cyclonedds-python 0.10.5 and 11.0.x, where DataWriter.write and
DataReader.take themselves call these functions of the C extension:
``_clayer.ddspy_write(writer_ref, bytes)`` and
``_clayer.ddspy_take(reader_ref, mask, n) -> [(bytes, SampleInfo), ...]``.
"""
from __future__ import annotations

import cyclonedds

try:
    from cyclonedds._clayer import ddspy_take, ddspy_write
    from cyclonedds.core import DDSException, InstanceState, SampleState, ViewState
except ImportError as error:  # an upgrade moved the internals: fail loudly, never go slow silently
    raise RuntimeError(
        f"cyclonedds {getattr(cyclonedds, '__version__', '?')} lacks the raw sample functions "
        f"cicld_ros.transports.dds relies on ({error}); install cyclonedds>=0.10.5,<12"
    ) from None

ANY_SAMPLE = SampleState.Any | ViewState.Any | InstanceState.Any


def write_raw(writer, cdr: bytes) -> None:
    """Write one sample given as CDR bytes (encapsulation header included)."""
    if len(cdr) % 4:
        # the C layer expects whole 4-byte words, as write() pads
        cdr = cdr + b"\x00" * (-len(cdr) % 4)
    status = ddspy_write(writer._ref, cdr)
    if status < 0:
        raise DDSException(status, f"raw write on {writer!r}")


def take_raw(reader, max_samples: int = 64) -> list[bytes]:
    """Take up to ``max_samples`` samples with valid data, as CDR bytes."""
    taken = ddspy_take(reader._ref, ANY_SAMPLE, max_samples)
    if isinstance(taken, int):
        raise DDSException(taken, f"raw take on {reader!r}")
    return [data for data, info in taken if info.valid_data]
