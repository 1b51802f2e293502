"""`nanomind chat` and `run` on a terminal, driven through a pseudo-terminal as a person at a
keyboard would: Ctrl-C stops a reply and keeps the conversation (the next turn prefills only
its own tokens), a second Ctrl-C at the prompt leaves; Ctrl-D on a half-typed line sends
nothing; arrow keys edit the line and recall history (libedit); /image confirms; `run`
without -p says it is waiting for standard input; a base model (no chat template) is
refused by chat up front and completed as plain text by run."""
import os
import pty
import re
import select
import signal
import termios
import time

import pytest
from gguf_edit import copy_gguf

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
SCENE = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models", "samples", "scene_3.png")


class Terminal:
    """A nanomind process on a pseudo-terminal (stdout and stderr both land on it)."""

    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(NANOMIND, [NANOMIND, *args])
        self.out = b""

    def read_until(self, pattern, timeout=60):
        """Reads until `pattern` (a regex over the bytes read since the start) matches."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while not rx.search(self.out):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; the terminal shows:\n{self.text()}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # the process closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"the process ended before {pattern!r}; the terminal shows:\n{self.text()}")
                self.out += data
        return rx.search(self.out)

    def send(self, data):
        os.write(self.fd, data)

    def at_prompt(self, timeout=5):
        """Reads up to the next "> " prompt, then waits until the line editor owns the
        terminal (libedit turns canonical mode off): keys typed earlier would reach the
        terminal's own line discipline instead. False where no line editor takes over."""
        self.read_until(rb"\n> $")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not termios.tcgetattr(self.fd)[3] & termios.ICANON:
                return True
            time.sleep(0.01)
        return False

    def _drain(self, wait):
        """Reads what the terminal holds; False when nothing came (or the other side closed)."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the process is gone and its output read
            return False
        self.out += data
        return bool(data)

    def wait(self, timeout=60):
        """The exit status (rc, or -signal), with everything the process wrote read."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._drain(0):  # a quick exit leaves its output in the terminal
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._drain(0.1)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"the process did not end; the terminal shows:\n{self.text()}")

    def text(self):
        return self.out.decode(errors="replace")


TIMINGS = rb"prompt (\d+) tok.*?gen (\d+) tok.*?context (\d+)/\d+\]"


@pytest.fixture
def model(tiny_q8_model):
    return tiny_q8_model


def test_ctrl_c_stops_the_reply_and_keeps_the_conversation(model):
    # Replies run to -n tokens (--ignore-eos: greedy on the tiny random model once ended after
    # 342 tokens, 135 ms, before a loaded test sent its Ctrl-C): Ctrl-C lands while it streams.
    t = Terminal("chat", "-m", model, "-c", "8192", "-n", "8000", "--ignore-eos", "--temp", "0", "-v")
    t.at_prompt()
    t.send(b"first question\r")
    t.read_until(rb"(?s)first question\r\n.{8}", timeout=60)  # the reply has started
    t.send(b"\x03")
    t.read_until(rb"\[reply stopped")
    first = t.read_until(TIMINGS)
    prompt1, ctx1 = int(first.group(1)), int(first.group(3))
    t.at_prompt()  # back at the prompt, not ended (before: rc 130 here)
    t.out = b""
    t.send(b"second question\r")
    t.read_until(rb"(?s)second question\r\n.{8}")
    t.send(b"\x03")
    second = t.read_until(TIMINGS)
    prompt2, gen2, ctx2 = (int(g) for g in second.groups())
    # The conversation went on: the second turn's context holds the first turn (its cut reply
    # included), and its first prompt came from the KV cache, not evaluated again. (The cut
    # reply itself may be re-tokenized differently from the tokens generated, as any reply.)
    assert ctx2 - gen2 > ctx1, f"the second turn's conversation ({ctx2 - gen2}) lost the first ({ctx1})"
    assert ctx2 - gen2 - prompt2 >= prompt1 - 2, f"second turn prefilled {prompt2} of {ctx2 - gen2} tokens"
    t.at_prompt()
    t.send(b"\x03")  # Ctrl-C at the prompt leaves
    # 130 when the ^C reaches the process as SIGINT; a loaded landing run once saw 0 (readline
    # ended input without the signal flag being set; not reproduced): either way the chat ends.
    assert t.wait() in (130, 0)


def test_ignore_eos_replies_run_to_n_predict_tokens(model):
    t = Terminal("chat", "-m", model, "-c", "2048", "-n", "300", "--ignore-eos", "--temp", "0", "-v")
    for turn in (b"first question\r", b"second question\r"):
        t.at_prompt()
        # read_until searches all the bytes kept: forget the earlier turn, whose timings (and
        # its prompt) would otherwise match at once and let the Ctrl-C below cut this reply
        # (CI, 2026-12-07: the second reply stopped after 1 token, the chat never ended).
        t.out = b""
        t.send(turn)
        assert int(t.read_until(TIMINGS).group(2)) == 300
    t.at_prompt()
    t.send(b"\x03")
    assert t.wait() in (130, 0)


def test_ctrl_d_on_a_half_line_sends_nothing_and_arrows_edit(model):
    t = Terminal("chat", "-m", model, "-n", "4", "--temp", "0", "-v")
    banner = t.read_until(rb"chat: .*\n")
    editing = t.at_prompt() and b"arrows edit" in banner.group(0)
    t.send(b"half a line\x04")
    time.sleep(0.3)
    if editing:
        t.send(b"\x15")  # Ctrl-U: clear the half line
    else:
        t.send(b"\x04")  # plain terminal reader: Ctrl-D again ends input
        assert t.wait() == 0
        assert b"[load" not in t.out, t.text()
        pytest.skip("built without libedit: no line editing to test")
    t.send(b"/image /no/such/picture.png\r")
    t.read_until(rb"no such image file")
    t.at_prompt()
    t.send(b"\x1b[A\r")  # up arrow: the same command again from history
    t.read_until(rb"no such image file(.|\n)*no such image file")
    t.at_prompt()
    t.send(b"/image " + SCENE.encode() + b"\r")
    t.read_until(rb"goes with your next message \(1 pending\)")
    t.at_prompt()
    t.send(b"/ext\x1b[Di\r")  # "/ext", left arrow, "i": "/exit"
    assert t.wait() == 0
    assert b"[load" not in t.out, "a half line or the edited command reached the model:\n" + t.text()


def test_run_without_a_prompt_on_a_terminal_says_it_reads_standard_input(model):
    t = Terminal("run", "-m", model, "-n", "4", "--temp", "0")
    t.read_until(rb"reading the prompt from standard input")
    t.send(b"Hello there\r\x04")
    assert t.wait() == 0, t.text()


@pytest.fixture
def base_model(model, tmp_path):
    dst = str(tmp_path / "base.gguf")
    copy_gguf(model, dst, drop_prefix="tokenizer.chat_template")
    return dst


def test_base_model_chat_is_refused_up_front_and_run_completes_plain_text(base_model):
    t = Terminal("chat", "-m", base_model)
    assert t.wait(timeout=60) == 1  # before: a banner, an error on every turn, rc 0
    assert re.search(rb"no chat template.*--template.*--raw", t.out, re.S), t.text()
    t = Terminal("run", "-m", base_model, "-p", "Once upon a time", "-n", "8", "--temp", "0")
    assert t.wait() == 0, t.text()
    assert b"completing the prompt as plain text" in t.out, t.text()
