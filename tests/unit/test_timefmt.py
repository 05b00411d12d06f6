"""Docker's words for a span of time, and how long they hold."""

from __future__ import annotations

import pytest

from services.common.timefmt import human_duration, human_duration_holds


@pytest.mark.parametrize("seconds, words", [
    (0.4, "Less than a second"), (1, "1 second"), (59.9, "59 seconds"), (60, "About a minute"),
    (150, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"), (5400, "2 hours"),
    (48 * 3600, "2 days"), (15 * 86400, "2 weeks"), (70 * 86400, "2 months"), (800 * 86400, "2 years"),
])
def test_docker_words(seconds, words):
    assert human_duration(seconds) == words


def spans():
    """Spans of every size the words have, at odd fractions of a second."""
    s = 0.0
    while s < 3 * 365 * 86400:
        yield s
        s = s * 1.07 + 0.37


@pytest.mark.parametrize("seconds", list(spans()))
def test_the_words_hold_as_long_as_it_says(seconds):
    holds = human_duration_holds(seconds)
    assert holds > 0
    assert human_duration(seconds + holds * 0.999) == human_duration(seconds)


def test_under_a_minute_the_words_change_with_each_second():
    assert human_duration_holds(5.25) == pytest.approx(0.75)
    assert human_duration(5.25 + 0.75) != human_duration(5.25)
    assert human_duration_holds(125) == pytest.approx(55)   # "2 minutes" until 3 minutes
