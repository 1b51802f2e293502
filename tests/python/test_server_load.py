"""32 concurrent clients against `nanomind serve --parallel 4` on loopback, for a bounded
time: a fixed number of requests each, mixed streamed and whole, chat and raw completions,
some clients leaving mid-answer. Every answer that was not cancelled must equal its own
prompt's greedy answer from `nanomind run` (0 lost, 0 corrupted, 0 crossed between clients);
resident memory must stay within 10% of its level after a warm-up round and the open file
descriptors must not grow; the server's own counters must account for every request (answers +
cancellations). Time to first token of the answers read to the end is printed (speed lives in
bench/)."""
import http.client
import json
import os
import random
import threading
import time

import pytest

from server_helpers import Server, make_tiny_model, run_cli

N_CLIENTS = 32
REQUESTS_EACH = 4
PROMPTS = ["Once upon a time", "Tell me a story", "The capital of France", "Hello there", "What is 2 + 2?",
           "Write a poem", "List three colours", "Why is the sky blue?"]
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.gguf")
    expected = {}
    for p in PROMPTS:
        for kind, extra in (("chat", []), ("completion", ["--raw"])):
            rc, out, err = run_cli("run", "-m", model, "-p", p, "-n", str(MAX_TOKENS), "--temp", "0", "-c", "1024",
                                   *extra)
            assert rc == 0, err
            expected[(kind, p)] = out[:-1]
    s = Server(["-m", model, "--parallel", "4", "--queue", "64", "-c", "1024"],
               tmp_path_factory.mktemp("log") / "server.log")
    yield s, expected
    s.stop()


def one_request(port, kind, prompt, stream, leave_early):
    """-> (text or None if we left, ttft seconds)"""
    body = {"max_tokens": MAX_TOKENS, "temperature": 0, "stream": stream}
    if kind == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
        path = "/v1/chat/completions"
    else:
        body["prompt"] = prompt
        path = "/v1/completions"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.time()
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, resp.read()[:300])
        if not stream:
            if leave_early:  # gone before the answer: the server finds out at its next heartbeat
                return None, time.time() - t0
            data = resp.read()
            ttft = time.time() - t0
            j = json.loads(data)
            c = j["choices"][0]
            return (c["message"]["content"] if kind == "chat" else c["text"]), ttft
        text, ttft, done = "", None, False
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                done = True
                break
            j = json.loads(line[6:])
            assert "error" not in j, j
            c = j["choices"][0] if j["choices"] else None
            piece = (c.get("delta", {}).get("content") if kind == "chat" else c.get("text")) if c else None
            if piece:
                if ttft is None:
                    ttft = time.time() - t0
                text += piece
                if leave_early:
                    return None, ttft
        assert done, "the stream ended without [DONE]"
        return text, ttft
    finally:
        conn.close()


def run_round(port, expected, requests_each, seed):
    results, errors = [], []
    rng = random.Random(seed)
    plans = [[(rng.choice(["chat", "completion"]), PROMPTS[(c + i) % len(PROMPTS)], rng.random() < 0.5,
               rng.random() < 0.15) for i in range(requests_each)] for c in range(N_CLIENTS)]

    def client(plan):
        for kind, prompt, stream, leave in plan:
            try:
                text, ttft = one_request(port, kind, prompt, stream, leave)
                results.append((kind, prompt, stream, leave, text, ttft))
            except Exception as e:  # noqa: BLE001 - reported below, with the request
                errors.append(f"{kind} {prompt!r} stream={stream}: {e!r}")

    threads = [threading.Thread(target=client, args=(p,), daemon=True) for p in plans]
    for t in threads:
        t.start()
    deadline = time.time() + 150
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.time()))
    assert not any(t.is_alive() for t in threads), "clients still waiting after 150 s"
    assert not errors, "\n".join(errors[:10])
    assert len(results) == N_CLIENTS * requests_each, "requests lost"
    wrong = [(k, p, s, t, expected[(k, p)]) for k, p, s, leave, t, _ in results if not leave and t != expected[(k, p)]]
    assert not wrong, f"{len(wrong)} answers differ from their prompt's greedy answer, e.g. {wrong[:3]}"
    return [r[5] for r in results if r[5] is not None and not r[3]], sum(1 for r in results if r[3])


def settle(server, want_busy=0, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, body = server.get("/health")
        h = json.loads(body)
        if h["slots_busy"] == want_busy and h["queue_depth"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the server did not go idle: " + body)


def test_32_clients(setup):
    server, expected = setup
    # Warm-up, the same size as the measured round: every slot, worker thread, malloc arena
    # and KV-cache page the load needs has been touched once.
    _, n_left1 = run_round(server.port, expected, REQUESTS_EACH, seed=1)
    settle(server)
    rss0, fds0 = server.rss_kib(), server.n_fds()
    ttfts, n_left2 = run_round(server.port, expected, REQUESTS_EACH, seed=2)
    n_left = n_left1 + n_left2
    settle(server)
    time.sleep(0.5)  # connections closed by clients are reaped
    rss1, fds1 = server.rss_kib(), server.n_fds()
    ttfts.sort()
    print(f"TTFT over {len(ttfts)} requests: p50 {ttfts[len(ttfts) // 2] * 1000:.0f} ms, "
          f"p99 {ttfts[int(len(ttfts) * 0.99)] * 1000:.0f} ms; RSS {rss0} -> {rss1} KiB; fds {fds0} -> {fds1}")
    # Under ASan (ctest preloads it) freed memory sits in the sanitizer's quarantine, so
    # resident memory says nothing about leaks there (LeakSanitizer does that job).
    if "asan" not in os.environ.get("LD_PRELOAD", ""):  # GCC's libasan, clang's libclang_rt.asan
        assert rss1 <= rss0 * 1.10, f"resident memory grew from {rss0} to {rss1} KiB"
    assert fds1 <= fds0, f"file descriptors grew from {fds0} to {fds1}"
    # Server side, nothing lost either: every request of both rounds (each got its 200)
    # ended as an answer or as a cancellation when its client left.
    answers = server.metric("nanomind_answers_total")
    cancelled = server.metric("nanomind_answers_cancelled_total")
    assert answers + cancelled == 2 * N_CLIENTS * REQUESTS_EACH, (answers, cancelled)
    assert cancelled <= n_left, f"{cancelled} answers cancelled, but only {n_left} clients left early"
