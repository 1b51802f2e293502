"""Hostile HTTP against `nanomind serve` on loopback: malformed JSON, wrong types, huge
numbers, deep nesting, invalid base64, a PNG header claiming 20000x20000 pixels, invalid
UTF-8, slowloris-style slow bodies, 10 000 headers, garbage request lines. Each must get a
clear 4xx (OpenAI error JSON) or a closed connection — never a crash or a hang — and the
server must still answer correctly afterwards and exit 0 on SIGTERM."""
import base64
import json
import socket
import struct
import time
import zlib

import pytest

from server_helpers import Server, make_tiny_model


def png(w, h, claim=None):
    """A valid w x h PNG; with claim=(W, H) its IHDR says W x H (the pixels do not follow)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    W, H = claim or (w, h)
    raw = b"".join(b"\0" + b"\x80" * (w * 3) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.gguf")
    s = Server(["-m", model, "--parallel", "2", "-c", "512", "--max-body", "1000000", "--read-timeout", "2",
                "--max-image-pixels", "1000000"], tmp_path_factory.mktemp("log") / "server.log")
    yield s
    s.stop()


def raw_http(server, data, timeout=20, chunks=None, delay=0.0):
    """Sends bytes (optionally in chunks with a delay between them); returns what came back
    (b"" when the server closed the connection without answering)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        try:
            if chunks:
                for c in chunks:
                    s.sendall(c)
                    time.sleep(delay)
            else:
                s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
                if b"\r\n\r\n" in out and _complete(out):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def _complete(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def post(server, body: bytes, path="/v1/chat/completions", extra_headers=b""):
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra_headers +
           b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    return raw_http(server, req)


def body_of(resp):
    """The body of an HTTP/1.1 response, chunked transfer encoding undone."""
    head, _, body = resp.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out


def status_and_error(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)["error"] if body.strip() else None


def image_request(data_uri):
    return json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_uri}}, {"type": "text", "text": "what is this?"}]}]}).encode()


BAD_BODIES = {
    "malformed json": b'{"messages": [{"role": "user", "content": "hi"}',
    "not an object": b'[1, 2, 3]',
    "empty": b"",
    "messages not a list": b'{"messages": "hi"}',
    "content a number": b'{"messages": [{"role": "user", "content": 42}]}',
    "unknown role": b'{"messages": [{"role": "tool", "content": "x"}]}',
    "temperature a string": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
    "huge max_tokens": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 99999999999999999999999999}',
    "huge float": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}',
    "negative max_tokens": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}',
    "max_tokens zero": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
    "float max_tokens": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e10}',
    "n = 2": b'{"messages": [{"role": "user", "content": "hi"}], "n": 2}',
    "deep nesting": b'{"messages": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "invalid utf-8": b'{"messages": [{"role": "user", "content": "\xff\xfe\xc3\x28"}]}',
    "overlong utf-8": b'{"messages": [{"role": "user", "content": "\xc0\xaf"}]}',
    "invalid base64": image_request("data:image/png;base64,@@@not base64@@@"),
    "base64 of no image": image_request("data:image/png;base64," + base64.b64encode(b"hello world").decode()),
    "remote url": image_request("http://127.0.0.1:1/x.png"),
    "file url without permission": image_request("file:///etc/passwd"),
    "20000x20000 png header": image_request("data:image/png;base64," + base64.b64encode(
        png(1, 1, claim=(20000, 20000))).decode()),
    "stop not a string": b'{"messages": [{"role": "user", "content": "hi"}], "stop": [1]}',
    "too many stops": b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["a","b","c","d","e"]}',
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_bodies_get_a_4xx_with_an_openai_error(server, name):
    status, err = status_and_error(post(server, BAD_BODIES[name]))
    assert 400 <= status < 500, (name, status)
    assert err and err["message"] and err["type"] == "invalid_request_error", err


def test_the_image_limits_are_checked_before_decoding(server):
    # 20000x20000 is refused from the header, and a real 1200x1000 image (over the
    # 1 megapixel limit of this server) is refused by its size, both naming the field.
    for data in (png(1, 1, claim=(20000, 20000)), png(1200, 1000)):
        status, err = status_and_error(post(server, image_request("data:image/png;base64," +
                                                                   base64.b64encode(data).decode())))
        assert status == 400 and "pixel" in err["message"] and err["param"].startswith("messages[0]")


def test_body_over_the_limit_is_413(server):
    resp = post(server, b'{"messages": [{"role": "user", "content": "' + b"a" * 1100000 + b'"}]}')
    assert resp == b"" or status_and_error(resp)[0] == 413


def test_ten_thousand_headers_are_refused(server):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10000))
    resp = raw_http(server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert resp == b"" or int(resp.split(b" ")[1]) in (400, 413, 431)


def test_garbage_request_lines(server):
    for req in [b"\x00\x01\x02\r\n\r\n", b"GET " + b"/a" * 10000 + b" HTTP/1.1\r\n\r\n", b"BREW /pot HTCPCP/1.0\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
        resp = raw_http(server, req)
        assert resp == b"" or 400 <= int(resp.split(b" ")[1]) < 500, resp[:200]


def test_slow_clients_do_not_block_others_and_are_dropped(server):
    body = b'{"prompt": "Once", "max_tokens": 4}'
    head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    slow = []
    for _ in range(8):  # slowloris: headers sent, then the body one byte at a time, then silence
        s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        s.sendall(head + body[:3])
        slow.append(s)
    t0 = time.time()
    status, text = server.get("/health", timeout=10)
    assert status == 200 and time.time() - t0 < 5
    answer = post(server, b'{"prompt": "Once", "max_tokens": 2}', path="/v1/completions")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert json.loads(body_of(answer))["usage"]["completion_tokens"] >= 1
    # The silent ones are dropped by the read timeout (2 s here).
    t0 = time.time()
    for s in slow:
        try:
            got = s.recv(1000)
        except (ConnectionResetError, socket.timeout):
            got = b""
        assert got == b"" or b" 4" in got.split(b"\r\n")[0], got[:100]
        s.close()
    assert time.time() - t0 < 15


def test_still_healthy_and_correct_afterwards(server):
    a = json.loads(body_of(post(server, b'{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}',
                                path="/v1/completions")))
    b = json.loads(body_of(post(server, b'{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}',
                                path="/v1/completions")))
    assert a["choices"][0]["text"] == b["choices"][0]["text"]
    assert a["usage"]["completion_tokens"] >= 1
