import pytest

from unit.delivery.gateway import Gateway


@pytest.fixture
def gateway():
    g = Gateway().start()
    yield g
    g.stop()
