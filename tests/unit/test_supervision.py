"""supervisord as dockyardd runs it: what it does before each fork of a service."""

from __future__ import annotations

import sys

from supervisor import options

from services import supervision


def test_the_method_cache_is_emptied_just_before_each_fork(monkeypatch):
    """So a service's lookups do not let go of (and copy the pages of) supervisord's names."""
    seen = []
    monkeypatch.setattr(sys, "_clear_type_cache", lambda: seen.append("cleared"))
    monkeypatch.setattr(options.ServerOptions, "fork", lambda self: seen.append("forked") or 4242)
    opts = supervision.Options.__new__(supervision.Options)
    assert opts.fork() == 4242
    assert opts.fork() == 4242
    assert seen == ["cleared", "forked", "cleared", "forked"]
