"""Pages of many sites: each test starts its own container, publishes its port and fetches."""

import pytest

PAGES = 20


@pytest.mark.parametrize("n", range(PAGES))
def test_page(site, n):
    body = f"<h1>page {n}</h1>\n" + "".join(f"<p>line {i} of page {n}</p>\n" for i in range(n))
    s = site({f"p{n}.html": body, "index.html": f"site {n}\n"})
    assert s.get(f"/p{n}.html") == body
    assert s.get("/") == f"site {n}\n"
