#include "bricks/whisper/whisper_vocab.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>

namespace nm {
namespace {

// openai/whisper tokenizer.py LANGUAGES, in token order.
constexpr std::array<const char*, 100> kCodes = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};
constexpr std::array<const char*, 100> kNames = {
    "english", "chinese", "german", "spanish", "russian", "korean", "french", "japanese", "portuguese",
    "turkish", "polish", "catalan", "dutch", "arabic", "swedish", "italian", "indonesian", "hindi",
    "finnish", "vietnamese", "hebrew", "ukrainian", "greek", "malay", "czech", "romanian", "danish",
    "hungarian", "tamil", "norwegian", "thai", "urdu", "croatian", "bulgarian", "lithuanian", "latin",
    "maori", "malayalam", "welsh", "slovak", "telugu", "persian", "latvian", "bengali", "serbian",
    "azerbaijani", "slovenian", "kannada", "estonian", "macedonian", "breton", "basque", "icelandic",
    "armenian", "nepali", "mongolian", "bosnian", "kazakh", "albanian", "swahili", "galician", "marathi",
    "punjabi", "sinhala", "khmer", "shona", "yoruba", "somali", "afrikaans", "occitan", "georgian",
    "belarusian", "tajik", "sindhi", "gujarati", "amharic", "yiddish", "lao", "uzbek", "faroese",
    "haitian creole", "pashto", "turkmen", "nynorsk", "maltese", "sanskrit", "luxembourgish", "myanmar",
    "tibetan", "tagalog", "malagasy", "assamese", "tatar", "hawaiian", "lingala", "hausa", "bashkir",
    "javanese", "sundanese", "cantonese"};

enum class CharClass { letter, number, space, other };
CharClass classify(unsigned char c) {
  if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::letter;  // non-ASCII: letters
  if (c >= '0' && c <= '9') return CharClass::number;
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return CharClass::space;
  return CharClass::other;
}

}  // namespace

std::span<const char* const> whisper_language_codes() { return kCodes; }

std::string_view whisper_language_name(std::string_view code) {
  for (size_t i = 0; i < kCodes.size(); ++i) {
    if (code == kCodes[i]) return kNames[i];
  }
  return {};
}

Result<WhisperVocab> WhisperVocab::from_layout(std::vector<std::string> text, int n_vocab, int n_langs, bool multilingual) {
  WhisperVocab v;
  const int eot = (int)text.size();
  if (n_langs < 0 || n_langs > (int)kCodes.size() || eot <= 0 || n_vocab != eot + 1 + 1 + n_langs + 6 + 1501) {
    return error(ErrorCode::invalid_file, "vocabulary of " + std::to_string(n_vocab) + " tokens does not fit Whisper's layout (" +
                                              std::to_string(eot) + " text tokens, " + std::to_string(n_langs) +
                                              " languages, 8 special tokens, 1501 timestamps)");
  }
  v.text_ = std::move(text);
  v.n_vocab_ = n_vocab;
  v.n_langs_ = n_langs;
  v.multilingual_ = multilingual;
  v.eot = eot;
  v.sot = eot + 1;
  v.lang_begin = eot + 2;
  v.translate = v.lang_begin + n_langs;
  v.transcribe = v.translate + 1;
  v.solm = v.translate + 2;
  v.prev = v.translate + 3;
  v.nosp = v.translate + 4;
  v.no_timestamps = v.translate + 5;
  v.timestamp_begin = v.translate + 6;
  v.sorted_.reserve(v.text_.size());
  for (int i = 0; i < eot; ++i) {
    if (!v.text_[(size_t)i].empty()) v.sorted_.emplace_back(v.text_[(size_t)i], i);
  }
  // Sorted by bytes, then by id, so that lookups find the lowest id of duplicate strings.
  std::sort(v.sorted_.begin(), v.sorted_.end());
  return v;
}

int WhisperVocab::language_token(std::string_view code) const {
  for (int i = 0; i < n_langs_; ++i) {
    if (code == kCodes[(size_t)i]) return lang_begin + i;
  }
  return -1;
}

std::string_view WhisperVocab::language_code(int id) const {
  return id >= lang_begin && id < lang_begin + n_langs_ ? kCodes[(size_t)(id - lang_begin)] : std::string_view();
}

std::string WhisperVocab::piece(int id) const {
  if (is_text(id)) return text_[(size_t)id];
  if (id == eot) return "<|endoftext|>";
  if (id == sot) return "<|startoftranscript|>";
  if (!language_code(id).empty()) return "<|" + std::string(language_code(id)) + "|>";
  if (id == translate) return "<|translate|>";
  if (id == transcribe) return "<|transcribe|>";
  if (id == solm) return "<|startoflm|>";
  if (id == prev) return "<|startofprev|>";
  if (id == nosp) return "<|nospeech|>";
  if (id == no_timestamps) return "<|notimestamps|>";
  if (is_timestamp(id)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "<|%.2f|>", timestamp_seconds(id));
    return buf;
  }
  return "<|invalid|>";
}

std::string WhisperVocab::decode(std::span<const int32_t> ids) const {
  std::string s;
  for (int32_t id : ids) {
    if (is_text(id)) s += text_[(size_t)id];
  }
  return s;
}

void WhisperVocab::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  auto lookup = [&](std::string_view bytes) -> int32_t {
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), std::make_pair(bytes, (int32_t)INT32_MIN));
    return it != sorted_.end() && it->first == bytes ? it->second : -1;
  };
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < word.size(); ++i) parts.push_back(word.substr(i, 1));
  // Merge the adjacent pair whose concatenation has the lowest rank until none is a token.
  for (;;) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const std::string_view joined(parts[i].data(), parts[i].size() + parts[i + 1].size());
      const int32_t r = lookup(joined);
      if (r >= 0 && r < best) {
        best = r;
        at = i;
      }
    }
    if (best == INT32_MAX) break;
    parts[at] = std::string_view(parts[at].data(), parts[at].size() + parts[at + 1].size());
    parts.erase(parts.begin() + (std::ptrdiff_t)at + 1);
  }
  for (std::string_view p : parts) {
    const int32_t id = lookup(p);
    if (id >= 0) out.push_back(id);  // every single byte is a token in Whisper's vocabularies
  }
}

std::vector<int32_t> WhisperVocab::encode(std::string_view s) const {
  // GPT-2's pre-split: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  // with every non-ASCII byte counted as a letter.
  std::vector<int32_t> out;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    if (s[i] == '\'' && i + 1 < n) {
      static constexpr std::string_view kSuffixes[] = {"re", "ve", "ll", "s", "t", "m", "d"};
      size_t len = 0;
      for (std::string_view suf : kSuffixes) {
        if (s.substr(i + 1, suf.size()) == suf) {
          len = suf.size();
          break;
        }
      }
      if (len) {
        encode_word(s.substr(i, len + 1), out);
        i += len + 1;
        continue;
      }
    }
    size_t j = i;
    if (s[j] == ' ' && j + 1 < n && classify((unsigned char)s[j + 1]) != CharClass::space) ++j;
    const CharClass c = classify((unsigned char)s[j]);
    if (c != CharClass::space) {
      while (j < n && classify((unsigned char)s[j]) == c) ++j;
      encode_word(s.substr(start, j - start), out);
      i = j;
      continue;
    }
    while (j < n && classify((unsigned char)s[j]) == CharClass::space) ++j;
    // A run of spaces before a word leaves its last space to the word.
    if (j < n && j - i > 1) --j;
    encode_word(s.substr(start, j - start), out);
    i = j;
  }
  return out;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = (unsigned char)s[i];
    const int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + (size_t)len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = ((unsigned char)s[i + (size_t)k] & 0xC0) == 0x80;
    if (ok && len > 1) {  // no overlong forms, surrogates or code points past U+10FFFF
      uint32_t cp = c & (0x7Fu >> len);
      for (int k = 1; k < len; ++k) cp = (cp << 6) | ((unsigned char)s[i + (size_t)k] & 0x3Fu);
      ok = cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, (size_t)len));
      i += (size_t)len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

bool byte_level_to_bytes(std::string_view token, std::string& bytes) {
  // GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes
  // to U+0100 + their index among them, in byte order.
  static const std::array<int, 324> kCodeToByte = [] {
    std::array<int, 324> m{};
    m.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      m[(size_t)(printable ? b : 256 + extra++)] = b;
    }
    return m;
  }();
  bytes.clear();
  for (size_t i = 0; i < token.size();) {
    const unsigned char c = (unsigned char)token[i];
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = ((c & 0x1Fu) << 6) | ((unsigned char)token[i + 1] & 0x3Fu);
      i += 2;
    } else {
      return false;  // code points above U+07FF never occur in this mapping
    }
    if (cp >= kCodeToByte.size() || kCodeToByte[cp] < 0) return false;
    bytes.push_back((char)kCodeToByte[cp]);
  }
  return true;
}

}  // namespace nm
