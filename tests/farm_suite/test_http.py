"""What a web service under test does, seen through its container's published port."""

import base64

from testcontainers.core.waiting_utils import wait_for_logs

CGI_ENV = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "method=$REQUEST_METHOD query=$QUERY_STRING"
"""

CGI_ECHO = """#!/bin/sh
printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'
cat
"""


def test_index_is_served_at_the_root(site):
    assert site({"index.html": "home\n"}).get("/") == "home\n"


def test_a_missing_page_is_404(site):
    r = site({"index.html": "home\n"}).request("GET", "/nowhere.html")
    assert r.status == 404


def test_nested_directories(site):
    s = site({"a/b/c/deep.txt": "deep\n", "a/top.txt": "top\n"})
    assert s.get("/a/b/c/deep.txt") == "deep\n"
    assert s.get("/a/top.txt") == "top\n"


def test_a_directory_without_its_slash_is_redirected(site):
    r = site({"docs/index.html": "docs\n"}).request("GET", "/docs")
    assert r.status in (301, 302) and r.headers["Location"].endswith("/docs/")


def test_head_answers_the_length_without_a_body(site):
    s = site({"page.html": "x" * 1234})
    r = s.request("HEAD", "/page.html")
    assert r.status == 200 and r.headers["Content-Length"] == "1234" and r.body == b""


def test_content_types_follow_extensions(site):
    s = site({"a.html": "<b>a</b>", "b.txt": "b", "c.css": "p{}"})
    assert s.request("GET", "/a.html").headers["Content-Type"].startswith("text/html")
    assert s.request("GET", "/b.txt").headers["Content-Type"].startswith("text/plain")
    assert s.request("GET", "/c.css").headers["Content-Type"].startswith("text/css")


def test_a_large_page_made_in_the_container(site):
    s = site(setup='i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done > /www/big.txt')
    assert s.get("/big.txt") == "".join(f"line {i}\n" for i in range(3000))


def test_binary_bytes_come_back_unchanged(site):
    data = bytes(range(256)) * 16
    encoded = base64.b64encode(data).decode()
    s = site(setup=f"echo {encoded} | base64 -d > /www/blob.bin")
    r = s.request("GET", "/blob.bin")
    assert r.status == 200 and r.body == data


def test_environment_reaches_the_page(site):
    s = site(env={"GREETING": "hello from the environment"},
             setup='echo "$GREETING" > /www/index.html')
    assert s.get("/") == "hello from the environment\n"


def test_cgi_script_sees_the_query(site):
    s = site({"cgi-bin/env.sh": CGI_ENV}, executables=("cgi-bin/env.sh",))
    assert s.get("/cgi-bin/env.sh?color=blue&n=7") == "method=GET query=color=blue&n=7\n"


def test_cgi_script_reads_a_posted_body(site):
    s = site({"cgi-bin/echo.sh": CGI_ECHO}, executables=("cgi-bin/echo.sh",))
    r = s.request("POST", "/cgi-bin/echo.sh", body=b"posted bytes\n",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200 and r.body == b"posted bytes\n"


def test_basic_auth_protects_a_directory(site):
    s = site({"secret/index.html": "the secret\n", "index.html": "public\n"},
             setup="echo '/secret:ann:pa55' > /etc/httpd.conf", httpd_args=("-c", "/etc/httpd.conf"))
    assert s.get("/") == "public\n"
    assert s.request("GET", "/secret/").status == 401
    token = base64.b64encode(b"ann:pa55").decode()
    r = s.request("GET", "/secret/", headers={"Authorization": f"Basic {token}"})
    assert r.status == 200 and r.text == "the secret\n"


def test_exec_adds_a_page_to_a_running_site(site):
    s = site({"index.html": "home\n"})
    result = s.container.exec(["sh", "-c", "echo added > /www/new.html"])
    assert result.exit_code == 0
    assert s.get("/new.html") == "added\n"


def test_the_request_shows_in_the_container_log(site):
    s = site({"logged.html": "logged\n"})
    assert s.get("/logged.html") == "logged\n"
    wait_for_logs(s.container, "url:/logged.html", timeout=30, interval=0.05)


def test_many_requests_in_a_row(site):
    s = site({f"n{i}.txt": f"{i}\n" for i in range(10)})
    assert [s.get(f"/n{i % 10}.txt") for i in range(30)] == [f"{i % 10}\n" for i in range(30)]


def test_two_sites_at_once_answer_apart(site):
    first, second = site({"index.html": "first\n"}), site({"index.html": "second\n"})
    assert first.port != second.port or first.host != second.host
    assert (first.get("/"), second.get("/")) == ("first\n", "second\n")
