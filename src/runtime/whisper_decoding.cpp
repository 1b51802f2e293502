#include "runtime/whisper_decoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

namespace nm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log_softmax in double over n logits (entries at -inf stay -inf).
void log_softmax(const float* x, int n, std::vector<double>& out) {
  out.resize((size_t)n);
  float mx = kNegInf;
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += x[i] == kNegInf ? 0.0 : std::exp((double)x[i] - mx);
  const double lse = mx + std::log(sum);
  for (int i = 0; i < n; ++i) out[(size_t)i] = x[i] == kNegInf ? -INFINITY : (double)x[i] - lse;
}

double entropy_of_last(std::span<const int32_t> tokens, size_t n) {
  const size_t from = tokens.size() > n ? tokens.size() - n : 0;
  std::map<int32_t, int> counts;
  for (size_t i = from; i < tokens.size(); ++i) ++counts[tokens[i]];
  const double total = (double)(tokens.size() - from);
  double e = 0.0;
  for (const auto& [t, c] : counts) e -= c / total * std::log(c / total);
  return e;
}

struct Sequence {
  std::vector<int32_t> tokens;  // sampled so far (no eot)
  double sum_logprob = 0.0;
  bool done = false;
};

// Whisper's ranking (decoding.py MaximumLikelihoodRanker, no length penalty).
double score(const Sequence& s) { return s.sum_logprob / (double)std::max<size_t>(1, s.tokens.size()); }

struct Prompt {
  std::vector<int32_t> head;  // [<|startofprev|> previous...] <|startoftranscript|>
  std::vector<int32_t> tail;  // language, task, <|notimestamps|>
};

Prompt build_prompt(const WhisperModel& m, const WhisperWindowOptions& opt) {
  const WhisperVocab& v = m.vocab();
  Prompt p;
  if (!opt.previous.empty()) {
    const size_t keep = std::min(opt.previous.size(), (size_t)m.hparams().n_text_ctx / 2 - 1);
    p.head.push_back(v.prev);
    p.head.insert(p.head.end(), opt.previous.end() - (std::ptrdiff_t)keep, opt.previous.end());
  }
  p.head.push_back(v.sot);
  if (v.multilingual()) {
    p.tail.push_back(opt.language_token);
    p.tail.push_back(opt.translate ? v.translate : v.transcribe);
  }
  if (!opt.timestamps) p.tail.push_back(v.no_timestamps);
  return p;
}

float softmax_prob(const float* logits, int n, int id) {
  std::vector<double> lp;
  log_softmax(logits, n, lp);
  return (float)std::exp(lp[(size_t)id]);
}

}  // namespace

void whisper_apply_rules(const WhisperModel& model, const WhisperWindowOptions& opt, std::span<const int32_t> sampled,
                         float* logits) {
  const WhisperVocab& v = model.vocab();
  const int n = v.n_vocab(), tb = v.timestamp_begin;
  if (sampled.empty() && opt.suppress_blank) {
    for (int32_t id : model.suppress_begin()) logits[id] = kNegInf;
  }
  if (opt.suppress_non_speech) {
    for (int32_t id : model.suppress()) logits[id] = kNegInf;
  }
  // Never sampled whatever the options: the control tokens of the prompt.
  for (int id : {v.sot, v.prev, v.solm, v.translate, v.transcribe, v.nosp, v.no_timestamps}) logits[id] = kNegInf;
  for (int id = v.lang_begin; id < v.lang_begin + v.n_langs(); ++id) logits[id] = kNegInf;
  if (!opt.timestamps) {
    std::fill(logits + tb, logits + n, kNegInf);
    return;
  }
  // Timestamp rules (decoding.py ApplyTimestampRules).
  const size_t k = sampled.size();
  const bool last_ts = k >= 1 && sampled[k - 1] >= tb;
  const bool penult_ts = k < 2 || sampled[k - 2] >= tb;
  if (last_ts) {
    if (penult_ts) {
      std::fill(logits + tb, logits + n, kNegInf);  // a pair is closed: text (or eot) next
    } else {
      std::fill(logits, logits + v.eot, kNegInf);   // an open pair: a timestamp or eot next
    }
  }
  int32_t last_stamp = -1;
  for (size_t i = k; i-- > 0;) {
    if (sampled[i] >= tb) {
      last_stamp = sampled[i];
      break;
    }
  }
  if (last_stamp >= 0) {
    // Timestamps never decrease, and a segment has a nonzero length.
    const int32_t first_allowed = last_ts && !penult_ts ? last_stamp : last_stamp + 1;
    std::fill(logits + tb, logits + std::min(first_allowed, n), kNegInf);
  }
  if (k == 0) {
    std::fill(logits, logits + tb, kNegInf);  // the window starts with a timestamp
    const int last_allowed = tb + (int)std::lround(opt.max_initial_timestamp / 0.02f);
    if (last_allowed + 1 < n) std::fill(logits + last_allowed + 1, logits + n, kNegInf);
  }
  // Text only when some text token is likelier than all timestamps together.
  std::vector<double> lp;
  log_softmax(logits, n, lp);
  double ts_max = -INFINITY;
  for (int i = tb; i < n; ++i) ts_max = std::max(ts_max, lp[(size_t)i]);
  if (ts_max == -INFINITY) return;
  double ts_sum = 0.0;
  for (int i = tb; i < n; ++i) ts_sum += std::exp(lp[(size_t)i] - ts_max);
  const double ts_logprob = ts_max + std::log(ts_sum);
  const double text_max = *std::max_element(lp.begin(), lp.begin() + tb);
  if (ts_logprob > text_max) std::fill(logits, logits + tb, kNegInf);
}

Result<std::pair<int, float>> whisper_detect_language(WhisperDecoder& dec, ThreadPool& pool) {
  const WhisperVocab& v = dec.model().vocab();
  if (!v.multilingual() || v.n_langs() == 0) return std::make_pair(v.language_token("en"), 1.0f);
  dec.clear();
  const int32_t sot = v.sot;
  NM_RETURN_IF_ERROR(dec.prefill({&sot, 1}, pool));
  const float* l = dec.logits(0);
  float mx = kNegInf;
  int best = -1;
  for (int i = 0; i < v.n_langs(); ++i) {
    if (l[v.lang_begin + i] > mx) {
      mx = l[v.lang_begin + i];
      best = v.lang_begin + i;
    }
  }
  double sum = 0.0;
  for (int i = 0; i < v.n_langs(); ++i) sum += std::exp((double)l[v.lang_begin + i] - mx);
  return std::make_pair(best, (float)(1.0 / sum));
}

Result<WhisperWindowResult> whisper_decode_window(WhisperDecoder& dec, const WhisperWindowOptions& opt,
                                                  std::mt19937_64& rng, ThreadPool& pool) {
  const WhisperModel& m = dec.model();
  const WhisperVocab& v = m.vocab();
  const int n_vocab = v.n_vocab();
  const bool beam = opt.temperature <= 0.0f && opt.beam_size > 1;
  const int n_seq = opt.temperature <= 0.0f ? std::max(1, opt.beam_size) : std::max(1, opt.best_of);
  if (n_seq > dec.n_beams()) {
    return error(ErrorCode::invalid_argument, std::to_string(n_seq) + " sequences asked for, the decoder holds " +
                                                  std::to_string(dec.n_beams()));
  }
  if (v.multilingual() && (opt.language_token < v.lang_begin || opt.language_token >= v.lang_begin + v.n_langs())) {
    return error(ErrorCode::invalid_argument, "a multilingual model needs a language token");
  }
  const Prompt prompt = build_prompt(m, opt);
  dec.clear();
  NM_RETURN_IF_ERROR(dec.prefill(prompt.head, pool));
  WhisperWindowResult res;
  res.no_speech_prob = softmax_prob(dec.logits(0), n_vocab, v.nosp);
  if (!prompt.tail.empty()) NM_RETURN_IF_ERROR(dec.prefill(prompt.tail, pool));
  const int prompt_len = dec.n_past();
  const int max_len = std::min(opt.max_tokens, dec.n_ctx() - prompt_len);
  if (n_seq > 1) dec.reorder(std::vector<int>((size_t)n_seq, 0));

  std::vector<Sequence> seqs((size_t)n_seq);
  std::vector<Sequence> finished;
  std::vector<float> work((size_t)n_vocab);
  std::vector<double> lp;
  std::vector<int32_t> step_tokens;
  bool first = true;
  for (int len = 0; len < max_len; ++len) {
    if (beam) {
      struct Cand {
        double score;
        int parent;
        int32_t token;
      };
      std::vector<Cand> cands;
      const int live = first ? 1 : n_seq;  // all sequences start as copies of the prompt
      for (int b = 0; b < live; ++b) {
        std::copy_n(dec.logits(first ? 0 : b), n_vocab, work.data());
        whisper_apply_rules(m, opt, seqs[(size_t)b].tokens, work.data());
        log_softmax(work.data(), n_vocab, lp);
        std::vector<int32_t> idx((size_t)n_vocab);
        std::iota(idx.begin(), idx.end(), 0);
        const int top = std::min(n_vocab, n_seq + 1);
        std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                          [&](int32_t a, int32_t c) { return lp[(size_t)a] > lp[(size_t)c]; });
        for (int j = 0; j < top; ++j) {
          if (lp[(size_t)idx[(size_t)j]] == -INFINITY) break;
          cands.push_back({seqs[(size_t)b].sum_logprob + lp[(size_t)idx[(size_t)j]], b, idx[(size_t)j]});
        }
      }
      std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& c) { return a.score > c.score; });
      std::vector<Sequence> next;
      std::vector<int> parents;
      std::vector<Sequence> newly_finished;
      for (const Cand& c : cands) {
        Sequence s = seqs[(size_t)c.parent];
        s.sum_logprob = c.score;
        if (c.token == v.eot) {
          s.done = true;
          newly_finished.push_back(std::move(s));
        } else {
          s.tokens.push_back(c.token);
          next.push_back(std::move(s));
          parents.push_back(c.parent);
          if ((int)next.size() == n_seq) break;
        }
      }
      for (Sequence& s : newly_finished) {
        if ((int)finished.size() >= n_seq) break;
        finished.push_back(std::move(s));
      }
      if ((int)finished.size() >= n_seq || next.empty()) break;
      while ((int)next.size() < n_seq) {  // too few candidates: pad with copies of the best
        next.push_back(next.front());
        parents.push_back(parents.front());
      }
      dec.reorder(parents);
      seqs = std::move(next);
    } else {
      bool all_done = true;
      for (int b = 0; b < n_seq; ++b) {
        Sequence& s = seqs[(size_t)b];
        if (s.done) continue;
        std::copy_n(dec.logits(first ? 0 : b), n_vocab, work.data());
        whisper_apply_rules(m, opt, s.tokens, work.data());
        log_softmax(work.data(), n_vocab, lp);
        int32_t tok;
        if (opt.temperature <= 0.0f) {
          tok = (int32_t)(std::max_element(lp.begin(), lp.end()) - lp.begin());
        } else {
          // Sample from softmax(logits / T) over the allowed tokens.
          double total = 0.0, mx = -INFINITY;
          for (double x : lp) mx = std::max(mx, x);
          for (double x : lp) total += x == -INFINITY ? 0.0 : std::exp((x - mx) / opt.temperature);
          double r = std::uniform_real_distribution<double>(0.0, total)(rng);
          tok = -1;
          for (int i = 0; i < n_vocab; ++i) {
            if (lp[(size_t)i] == -INFINITY) continue;
            tok = i;
            r -= std::exp((lp[(size_t)i] - mx) / opt.temperature);
            if (r <= 0.0) break;
          }
        }
        if (tok < 0) tok = v.eot;
        s.sum_logprob += lp[(size_t)tok];  // the untempered log-probability, as Whisper records it
        if (tok == v.eot) {
          s.done = true;
        } else {
          s.tokens.push_back(tok);
          all_done = false;
        }
      }
      if (all_done) break;
    }
    // Feed every sequence its newest token (finished ones repeat theirs: cheaper than
    // building graphs for fewer sequences, and their rows are never read again).
    step_tokens.clear();
    for (const Sequence& s : seqs) step_tokens.push_back(s.tokens.empty() ? v.eot : s.tokens.back());
    if (len + 1 >= max_len) break;
    NM_RETURN_IF_ERROR(dec.step(step_tokens, pool));
    first = false;
  }

  // Candidates: finished sequences, else (or to fill up) the live ones (beam search
  // finalize); the best mean log-probability wins.
  std::vector<Sequence>& pool_seqs = beam ? finished : seqs;
  if (beam) {
    std::vector<Sequence> live = seqs;
    std::sort(live.begin(), live.end(), [](const Sequence& a, const Sequence& b) { return a.sum_logprob > b.sum_logprob; });
    for (Sequence& s : live) {
      if ((int)finished.size() >= n_seq) break;
      finished.push_back(std::move(s));
    }
  }
  const Sequence* best = nullptr;
  for (const Sequence& s : pool_seqs) {
    if (!best || score(s) > score(*best)) best = &s;
  }
  if (!best) return error(ErrorCode::internal, "whisper decoding produced no sequence");
  res.tokens = best->tokens;
  res.ended = best->done;
  res.sum_logprob = best->sum_logprob;
  res.avg_logprob = best->sum_logprob / (double)(best->tokens.size() + 1);
  res.entropy = entropy_of_last(res.tokens, 32);
  return res;
}

}  // namespace nm
