"""How a path's /v{version} prefix selects the API version."""

import pytest

from services.api import versions
from services.common import errors


def test_unprefixed_is_v1_0():
    v = versions.resolve(None)
    assert v.legacy and v.text == "1.0"


@pytest.mark.parametrize("text", ["1.0", "1.24", "1.41", "1.45"])
def test_supported(text):
    assert versions.resolve(text).text == text


def test_only_1_0_is_legacy():
    assert versions.resolve("1.0").legacy
    assert not versions.resolve("1.24").legacy


@pytest.mark.parametrize("text", ["1.12", "1.23", "1.46", "2.0", "0.9"])
def test_out_of_range_names_the_range(text):
    with pytest.raises(errors.BadParameter, match=r"1\.0 and 1\.24 to 1\.45"):
        versions.resolve(text)


def test_malformed():
    with pytest.raises(errors.BadParameter):
        versions.resolve("1.x")
