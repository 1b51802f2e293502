// A stream of pictures, every K-th with a question, answered by one session's pipeline.
// Each asked frame gets a fresh conversation: its picture and the question (the KV cache
// keeps the prefix all frames share, e.g. the system prompt and the template's header).
//
// Pipelined (the default), the bricks run on their own workers: a vision worker thread
// plans, encodes frame N+1 into a token-ring slot and commits it while the text worker
// (the calling thread) answers frame N from the slot before it; each worker pins itself
// to its device's cores when the device is a CPU cluster (cpu:0, cpu:big, ...). The ring's
// backpressure decides what happens when frames arrive faster than they are answered:
// block (every frame answered; the folder / application default) or drop_oldest (a live
// camera: a READY frame no one has started on is dropped and reported). Sequential, one
// thread encodes and answers each frame in turn: the reference the pipelined answers must
// equal token for token.
//
// With params.replan, a brick that re-planning moves changes device between two of its
// frames (its worker drops its graphs, makes them on the new device, re-pins itself).
//
// Answers are delivered in frame order, one per asked frame: the text, or why there is
// none (an unreadable picture, a failed brick, a dropped frame). A failure never stops
// the other frames. Thread-safety: run_frame_stream() is called once at a time per
// session; on_answer runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "runtime/frame_source.h"
#include "runtime/stream_replan.h"
#include "runtime/text_session.h"

namespace nm {

struct FrameStreamParams {
  std::string question = "What is this?";
  int every = 1;          // ask about every K-th frame (frames 0, K, 2K, ...)
  int n_predict = 64;     // answer length limit
  bool pipelined = true;  // vision and text on their own workers
  bool ignore_eos = false;  // end tokens do not end an answer: n_predict tokens each (tests, benchmarks)
  // Pipelined with each brick on a CPU cluster of its own: a worker the ring makes wait
  // (the text worker for the next encoded frame, the vision worker for a free slot) takes
  // part in the other brick's matmuls and attention meanwhile (ThreadPool::help), so two
  // stages of unequal length do not leave a cluster idle. The answers stay the same bits.
  bool lend_idle_cores = true;
  // Ablation (nanomind bench --workload camera:N, the monolithic mode): the vision brick
  // writes into a buffer of its own and the embeddings are copied into the ring slot the
  // text brick reads, as a runtime without a shared ring does (counted as bytes copied).
  bool copy_embeddings = false;
  // Re-planning (runtime/stream_replan.h): each brick run is reported to it, and a brick it
  // moves is moved by its own worker before that worker's next frame. Null: bricks stay.
  // Shared, so that it may span several streams (a powered stream's segments).
  std::shared_ptr<StreamReplan> replan;
};

struct FrameAnswer {
  uint64_t frame = 0;    // Frame::index
  std::string name;      // Frame::name
  Status status;         // why there is no answer (ok: text holds it)
  std::string text;
  bool dropped = false;  // the ring's drop_oldest policy dropped the frame unanswered
  double vision_ms = 0, prefill_ms = 0, decode_ms = 0;
  double done_ms = 0;    // since the stream started
  int n_generated = 0;
};

struct FrameStreamStats {
  int asked = 0, answered = 0, failed = 0, dropped = 0;
  double first_answer_ms = 0;  // time to the first answer (or failure)
  double total_ms = 0;
};

using AnswerCallback = std::function<void(const FrameAnswer&)>;
// Receives answer text as it is generated (frame index, piece); may be empty.
using StreamPieceCallback = std::function<void(uint64_t frame, const std::string& piece)>;

// Runs the stream to its end. Errors only for what stops the whole stream (a session
// without a vision brick, bad parameters); per-frame problems go into the answers.
Result<FrameStreamStats> run_frame_stream(TextSession& session, FrameSource& source, const FrameStreamParams& params,
                                          const AnswerCallback& on_answer,
                                          const StreamPieceCallback& on_piece = nullptr);

}  // namespace nm
