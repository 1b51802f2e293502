"""Starting and stopping `nanomind serve` for the server tests: a live server on loopback
on a free port (--port 0; the port is read from its start line), stopped with SIGTERM at the
end, which must exit 0 (the graceful stop is checked every time a server is stopped)."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

TOOLS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "tools")
NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
DEMO_DIR = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")
DEMO_LLM = os.path.join(DEMO_DIR, "nanomind-demo-llm.gguf")
DEMO_MMPROJ = os.path.join(DEMO_DIR, "nanomind-demo-mmproj.gguf")


def make_tiny_model(path, preset="tiny", qtype="q8_0", extra=()):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_tiny_llm.py"), "--preset", preset, "--type", qtype,
                    "--out", str(path), *extra], check=True, capture_output=True, timeout=300)
    return str(path)


def run_cli(*args, timeout=120):
    """`nanomind ARGS` -> (returncode, stdout, stderr)."""
    # Bytes decoded by hand: text mode would turn a generated "\r" into "\n".
    r = subprocess.run([NANOMIND, *args], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


class Server:
    def __init__(self, args, log_path, start_timeout=60):
        self.log_path = str(log_path)
        self.log = open(self.log_path, "w+")
        env = dict(os.environ)
        if "asan" in env.get("LD_PRELOAD", ""):  # GCC's libasan or clang's libclang_rt.asan
            # The sanitizer build: ctest turns leak checking off for Python (not instrumented),
            # but the server is ours: LeakSanitizer runs when it exits, and a leak makes the
            # graceful stop's exit status non-zero (stop() below fails with the report).
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "").replace("detect_leaks=0", "detect_leaks=1")
        self.proc = subprocess.Popen([NANOMIND, "serve", "--port", "0", *args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.time() + start_timeout
        self.port = None
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on http://[^:]+:(\d+)", open(self.log_path).read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port is None:
            self.kill()
            raise RuntimeError("the server did not start:\n" + open(self.log_path).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path, headers=None, timeout=30):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name, headers=None):
        _, text = self.get("/metrics", headers)
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def n_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self, timeout=60):
        """SIGTERM; the server must drain and exit 0 by itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("the server did not stop within %d s of SIGTERM" % timeout)
        self.log.close()
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}:\n" + open(self.log_path).read()[-4000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
