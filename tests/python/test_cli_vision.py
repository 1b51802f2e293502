"""`nanomind run` / `chat` with images on the bundled demo model (models/: a 96 x 96 CLIP-style
encoder with 32-pixel patches, 9 image tokens): --image on both commands, "/image PATH"
in chat, and the static-shape mode --image-size WxH."""
import os
import re
import subprocess

NANOMIND = os.path.join(os.environ.get("NM_BIN", "."), "nanomind")
MODELS = os.path.join(os.environ.get("NM_SOURCE_DIR", "."), "models")
SCENE = os.path.join(MODELS, "samples", "scene_11.png")  # 96 x 96
OTHER = os.path.join(MODELS, "samples", "scene_21.png")
ENV = dict(os.environ, NANOMIND_MODELS=MODELS)


def nm(*args, stdin=None):
    return subprocess.run([NANOMIND, *args], input=stdin, capture_output=True, text=True, timeout=120, env=ENV)


def prompt_tokens(stderr):
    return [int(x) for x in re.findall(r"prompt (\d+) tok", stderr)]


def test_static_size_at_the_trained_size_changes_nothing():
    args = ["run", "--image", SCENE, "-p", "What is in the picture?", "-n", "12", "--temp", "0", "-v"]
    a, b = nm(*args), nm(*args, "--image-size", "96x96")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and prompt_tokens(a.stderr) == prompt_tokens(b.stderr)


def test_static_size_sets_the_encoder_input():
    a = nm("run", "--image", SCENE, "-p", "What is in the picture?", "-n", "4", "--temp", "0", "-v")
    b = nm("run", "--image", SCENE, "-p", "What is in the picture?", "-n", "4", "--temp", "0", "-v", "--image-size",
           "64x32")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    # 3 x 3 patches of 32 pixels at 96 x 96, 2 x 1 at 64 x 32
    assert prompt_tokens(a.stderr)[0] - prompt_tokens(b.stderr)[0] == 9 - 2


def test_bad_static_sizes_are_rejected():
    for bad in ("abc", "0x5", "64x", "9000x64"):
        r = nm("run", "--image", SCENE, "-p", "hi", "--image-size", bad)
        assert r.returncode != 0 and "WIDTHxHEIGHT" in r.stderr, (bad, r.stderr)
    # smaller than one patch: a clear error from the vision brick, no crash
    r = nm("run", "--image", SCENE, "-p", "hi", "--image-size", "8x8")
    assert r.returncode != 0 and "8x8" in r.stderr, r.stderr


def test_chat_takes_images_from_the_flag_and_from_slash_image():
    text = nm("chat", "-n", "4", "--temp", "0", "-v", stdin="What is in the picture?\n")
    img = nm("chat", "-n", "4", "--temp", "0", "-v", "--image", SCENE, stdin="What is in the picture?\n")
    assert text.returncode == 0 and img.returncode == 0, text.stderr + img.stderr
    # 9 image embeddings and the newline after them (LLaVA's "<image>\n")
    assert prompt_tokens(img.stderr)[0] - prompt_tokens(text.stderr)[0] >= 9
    two = nm("chat", "-n", "4", "--temp", "0", "-v", stdin=f"/image {SCENE}\n/image {OTHER}\nDescribe.\n")
    one = nm("chat", "-n", "4", "--temp", "0", "-v", stdin=f"/image {SCENE}\nDescribe.\n")
    assert two.returncode == 0 and one.returncode == 0, two.stderr + one.stderr
    assert prompt_tokens(two.stderr)[0] > prompt_tokens(one.stderr)[0] + 9
    r = nm("chat", "-n", "4", stdin="/image /no/such.png\nhello\n")
    assert r.returncode == 0 and "no such image file" in r.stderr


def test_help_lists_the_image_flags():
    for cmd in ("run", "chat"):
        r = nm(cmd, "--help")
        assert "--image " in r.stdout and "--image-size" in r.stdout, r.stdout
