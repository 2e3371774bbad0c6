"""XDP decoder fixtures: decoders loaded from the built object (make -C bpf), closed after."""
from __future__ import annotations

import pytest

from tests.conftest import require, require_root


@pytest.fixture
def make_decoder():
    """A factory of XdpMirrorDecoder instances; all of them are closed after the test."""
    require_root()
    from sonic_agent.bpf import object_path
    from sonic_agent.mirror.kernel import OBJECT
    from sonic_agent.mirror.xdp import XdpMirrorDecoder
    path = object_path(OBJECT)
    require(path.is_file(), f"{path} not built (make -C bpf)")
    made = []

    def make(**options) -> XdpMirrorDecoder:
        decoder = XdpMirrorDecoder(path=str(path), **options)
        made.append(decoder)
        return decoder

    yield make
    for decoder in made:
        decoder.obj.close()  # detaching is the test's business: it happens in the right netns


@pytest.fixture
def decoder(make_decoder):
    return make_decoder()
