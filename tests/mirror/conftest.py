"""XDP decoder fixtures: decoders loaded from the built objects (make -C bpf), closed after:
the build for this kernel, or each build where a module overrides `decoder_object`."""
from __future__ import annotations

import pytest

from tests.conftest import require, require_root


@pytest.fixture
def decoder_object() -> str:
    """The decoder build the tests load: the one the agent picks for this kernel."""
    require_root()
    from sonic_agent.mirror.xdp import object_for_kernel
    return object_for_kernel()


@pytest.fixture
def make_decoder(decoder_object):
    """A factory of XdpMirrorDecoder instances of one build; all are closed after the test."""
    require_root()
    from sonic_agent.bpf import object_path
    from sonic_agent.mirror.xdp import XdpMirrorDecoder
    path = object_path(decoder_object)
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
