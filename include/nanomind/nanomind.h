/* NanoMind C API.
 *
 * A model (nm_model) is loaded once and shared read-only; a session (nm_session) is one
 * conversation with its own KV cache and sampler. Every call returns NM_OK or an error
 * code, and the session (or, for loading and session creation, the caller's buffer) holds
 * a message a user can act on. No call aborts on bad input: every pointer argument is
 * checked (NULL where the text below does not allow it is NM_ERR_INVALID_ARGUMENT, or the
 * documented error value), every parameter is range-checked, and C++ exceptions never
 * cross this boundary.
 * Lifetime: a model is reference counted. nm_model_free drops the caller's reference; each
 * session holds one until nm_session_free, so a model may be freed before its sessions.
 * Thread-safety: one model may serve many sessions; a session is used by one thread at a time.
 */
#ifndef NANOMIND_H
#define NANOMIND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NM_API __attribute__((visibility("default")))

typedef enum nm_status {
  NM_OK = 0,
  NM_ERR_INVALID_ARGUMENT = 1,
  NM_ERR_INVALID_FILE = 2,
  NM_ERR_UNSUPPORTED = 3,
  NM_ERR_OUT_OF_MEMORY = 4,
  NM_ERR_OUT_OF_RANGE = 5, /* e.g. the prompt does not fit the context */
  NM_ERR_IO = 6,
  NM_ERR_INTERNAL = 7,
} nm_status;

typedef struct nm_model nm_model;
typedef struct nm_session nm_session;

typedef struct nm_model_params {
  const char* model_path;  /* GGUF LLM file (required) */
  const char* mmproj_path; /* vision encoder + projector GGUF ("mmproj"), or NULL for text only */
  int n_threads;           /* 0 = one per core of the chosen device; more than the CPUs this process
                              may use are capped to that count (more only slows decoding); < 0 or
                              > NM_MAX_THREADS is NM_ERR_INVALID_ARGUMENT */
  const char* power_profile; /* device profile for the energy estimate where this machine has no
                              power sensor: a shipped board ("rk3566", "rk3588", "jetson-orin-nano",
                              "rpi5", "x86-server-vcpu"), a profile .json file, or "none"; NULL: the
                              NM_POWER_PROFILE environment variable, else this machine's board, else
                              x86-server-vcpu on x86-64 (docs/PROFILES.md). An unusable profile is
                              NM_ERR_INVALID_ARGUMENT at nm_model_load */
} nm_model_params;

#define NM_MAX_THREADS 1024
/* nm_sampling_params.seed: draw a fresh random seed for each session (nm_session_seed says which). */
#define NM_SEED_RANDOM UINT64_MAX

/* Ranges (anything else, NaN and infinities included, is NM_ERR_INVALID_ARGUMENT at
 * nm_session_init): */
typedef struct nm_sampling_params {
  float temperature;    /* >= 0; 0: greedy (default 0.8) */
  int top_k;            /* >= 0; 0: off (default 40) */
  float top_p;          /* 0..1; 1: off (default 0.95) */
  float min_p;          /* 0..1; 0: off (default 0.05) */
  float repeat_penalty; /* > 0; 1: off (default 1) */
  int repeat_last_n;    /* >= 0 tokens the penalty looks back over (default 64) */
  uint64_t seed;        /* NM_SEED_RANDOM (the default): a random seed per session */
} nm_sampling_params;

typedef enum nm_kv_type { NM_KV_F16 = 0, NM_KV_Q8_0 = 1, NM_KV_F32 = 2 } nm_kv_type;

#define NM_MAX_CTX (1 << 20)
#define NM_MAX_IMAGE_SIDE 8192

typedef struct nm_session_params {
  int n_ctx;                   /* 0 = the model's training context, capped at 4096; else 1..NM_MAX_CTX
                                  (above the training context works but the model was not trained for it) */
  nm_kv_type kv_type;          /* one of nm_kv_type */
  const char* system_prompt;   /* NULL = none */
  const char* chat_template;   /* NULL = from the model file; or "llama2", "llama3", "llama3.1", "chatml", "qwen2", "gemma" */
  nm_sampling_params sampling;
  /* Static-shape vision input (as NPUs need): > 0 (both) feeds the encoder exactly
   * image_width x image_height pixels per image (fitted, padded with the mean colour, no
   * tiling); 0 = the model's own preprocessing (anyres tiles / image splitting if any).
   * Each side must be a multiple of the encoder's patch size (at least one patch) and at
   * most NM_MAX_IMAGE_SIDE, and the longer side at most 16 times the shorter. */
  int32_t image_width, image_height;
  const char* devices;         /* NULL or "" = the CPU; "opencl" = every brick there; or per brick,
                                  "text=opencl,vision=cpu:big" (names: `nanomind devices`) */
  int32_t no_repack;           /* 0 = on a CPU, quantised matrices (LLM and vision encoder) of types
                                  with a packed layout (README) run from a
                                  row-interleaved copy made on first use (read with pread; the file's
                                  pages are not kept, so memory stays one copy); 1 = the file's layout */
  int32_t parse_special;       /* 0 (default) = user messages, the system prompt and completion text are
                                  plain text: a typed "<|im_end|>" or image marker stays text and cannot end
                                  a turn or add an image (the chat template's own markers are control
                                  tokens either way); 1 = special-token text in them is parsed too */
  int32_t residency;           /* NM_RESIDENCY_KEEP (0, default): each brick's weights stay mapped (and
                                  packed) from first use to the session's end; NM_RESIDENCY_ON_DEMAND (1):
                                  a brick's weights, packed copies, graphs (and the text brick's KV cache)
                                  are given back after each run and mapped again before the next, so
                                  bricks that take turns are never all resident at once (less memory,
                                  slower turns; a pipelined stream overlaps them: use sequential) */
  int32_t ignore_eos;          /* 0 (default) = an end-of-turn token ends a chat reply; 1 = chat replies run
                                  to n_predict tokens (fixed-length runs, benchmarks, tests) */
} nm_session_params;
#define NM_RESIDENCY_KEEP 0
#define NM_RESIDENCY_ON_DEMAND 1

/* Called with each piece of generated text (valid UTF-8, possibly empty for tokens
 * that complete no character yet). Return non-zero to stop generating. A NULL callback
 * generates without showing anything. */
typedef int (*nm_token_callback)(const char* piece, int32_t token, void* user_data);

NM_API nm_model_params nm_model_default_params(void);
NM_API nm_session_params nm_session_default_params(void);

/* Loads a model. On failure *out is NULL and, if err is not NULL, err receives a
 * NUL-terminated message (truncated to err_size). */
NM_API nm_status nm_model_load(const nm_model_params* params, nm_model** out, char* err, size_t err_size);
/* Drops the caller's reference (sessions keep theirs). NULL is ignored. */
NM_API void nm_model_free(nm_model* model);

/* Returned by nm_tokenize and nm_token_to_piece for invalid arguments. */
#define NM_BAD_ARGUMENT INT32_MIN

/* Tokenises text. Returns the token count, or -(count needed) if n_max is too small
 * (tokens may be NULL when n_max is 0: a size query), or NM_BAD_ARGUMENT (NULL model or
 * text, n_max < 0, NULL tokens with n_max > 0). add_special adds BOS/EOS as the model file
 * asks; parse_special recognises special-token text ("<|im_end|>") as control tokens: pass
 * 0 for text from users, so that typed markers stay text. */
NM_API int32_t nm_tokenize(const nm_model* model, const char* text, int add_special, int parse_special,
                           int32_t* tokens, int32_t n_max);
/* Writes the bytes of one token (not NUL-terminated). Returns the byte count, or -(needed)
 * when buf_size is too small (buf may be NULL when buf_size is 0), or NM_BAD_ARGUMENT (NULL
 * model, a token outside 0..n_vocab-1, buf_size < 0, NULL buf with buf_size > 0). */
NM_API int32_t nm_token_to_piece(const nm_model* model, int32_t token, char* buf, int32_t buf_size);
/* 0 for NULL. */
NM_API int32_t nm_model_n_vocab(const nm_model* model);

/* Opens a conversation on model (which it keeps alive). params NULL = the defaults. On
 * failure *out is NULL and, if err is not NULL, err receives a NUL-terminated message
 * (truncated to err_size). */
NM_API nm_status nm_session_init(nm_model* model, const nm_session_params* params, nm_session** out, char* err,
                                 size_t err_size);
/* Frees the session (and the model, when this was its last reference). NULL is ignored. */
NM_API void nm_session_free(nm_session* session);
/* Message of the session's last failed call ("" if none). Valid until the next call. */
NM_API const char* nm_session_last_error(const nm_session* session);
/* The chat template the session uses ("llama3", "chatml", ...), or "" when the model file
 * has none NanoMind recognises and none was named in the parameters (a base model:
 * nm_session_chat fails; complete text with nm_session_complete). "" for NULL. */
NM_API const char* nm_session_chat_template(const nm_session* session);
/* The sampler's seed: the one given, or the one drawn for NM_SEED_RANDOM (0 for NULL). */
NM_API uint64_t nm_session_seed(const nm_session* session);

/* One chat turn: the user message is rendered with the chat template, appended to the
 * conversation (the KV cache is kept between turns), and up to n_predict tokens are
 * generated, each passed to cb (n_predict >= 0; negative is NM_ERR_INVALID_ARGUMENT). Generation
 * stops at an end-of-turn token or a stop string. */
NM_API nm_status nm_session_chat(nm_session* session, const char* user_message, int32_t n_predict,
                                 nm_token_callback cb, void* user_data);
/* An image for a chat turn: a JPEG/PNG/BMP file (path: a regular file of at most
 * NM_MAX_IMAGE_FILE_BYTES), or packed 8-bit RGB pixels in memory (rgb, width x height x 3
 * bytes; path NULL), e.g. a camera frame. */
#define NM_MAX_IMAGE_FILE_BYTES (256u << 20)
typedef struct nm_image {
  const char* path;
  const uint8_t* rgb;
  int32_t width, height;
} nm_image;

/* A JPEG/PNG/BMP file's bytes in memory, e.g. from an HTTP request. */
typedef struct nm_image_bytes {
  const uint8_t* data;
  size_t size;
} nm_image_bytes;

/* Width and height of an encoded JPEG/PNG/BMP image from its header alone (nothing is
 * decoded), e.g. to refuse one over a pixel limit before decoding it. */
NM_API nm_status nm_image_probe(const uint8_t* data, size_t size, int32_t* width, int32_t* height);

/* A chat turn with images (the model needs an mmproj): each image is preprocessed, run
 * through the vision encoder and projector, and its embeddings are spliced into the
 * prompt where the chat template puts the image. images may be NULL when n_images is 0. */
NM_API nm_status nm_session_chat_images(nm_session* session, const char* user_message, const nm_image* images,
                                        int32_t n_images, int32_t n_predict, nm_token_callback cb, void* user_data);

/* Runs one image through the vision brick alone (preprocessing, encoder, projector, tile
 * merge) without touching the conversation: writes its LLM-space embeddings, *n_tokens
 * rows of *n_embd floats, to out (max_floats long). When out is NULL or too small, sets
 * *n_tokens and *n_embd and returns NM_ERR_OUT_OF_RANGE (query the size that way). */
NM_API nm_status nm_session_encode_image(nm_session* session, const nm_image* image, float* out, int64_t max_floats,
                                         int32_t* n_tokens, int32_t* n_embd);

/* ---- Streams of pictures (a camera, a folder of frames, the application's frames).
 * Each asked frame (every `every`-th) gets a fresh conversation: the picture and the
 * question. Pipelined (the default), the vision brick encodes frame N+1 on its own worker
 * while the text brick answers frame N; placing the bricks on different devices
 * ("vision=cpu:0,text=cpu:1", NM_CPU_CLUSTERS=0|1 on a machine with alike cores) lets them
 * run at the same time. Answers arrive in frame order, one per asked frame. */
typedef struct nm_stream_params {
  const char* question;  /* asked about each frame (required) */
  int32_t every;         /* ask about every K-th frame (0 or 1: every frame) */
  int32_t n_predict;     /* answer length limit (0: 64) */
  int32_t sequential;    /* 1: encode and answer each frame in turn on one thread (the reference) */
  int32_t drop_frames;   /* 1: when frames arrive faster than they are answered, drop the oldest
                            frame no one has started on (a live camera); 0: wait for a free slot */
  int32_t max_frames;    /* stop after this many frames (0: all) */
  int32_t copy_embeddings; /* ablation (bench): 1 = the vision brick writes into its own buffer and the
                              embeddings are copied to the text brick, as without a shared ring
                              (counted in bytes_copied_between_bricks); 0 = read in place */
  /* Battery power modes (README.md, "Energy and battery"). With a battery or a forced mode,
   * the power policy reads the battery before each frame it would ask about and runs the
   * stream in its mode: parallel (every frame asked, pipelined, all threads), throttled (one
   * frame in round(1/alpha) asked, threads scaled by alpha = (level - T_low) / (T_high -
   * T_low)), on-demand (sequential, each brick loaded, run and given back: nothing of the
   * model resident between frames); T_high 50%, T_low 20%, 5 points of hysteresis. Mode
   * changes are logged on stderr ("nanomind: power: ...") and traced. */
  const char* battery;    /* NULL, "" or "none": no power policy; "sim:2000mAh@3.7V,start=80%": a simulated
                             battery drained by the session's joules (measured, or estimated from the power
                             profile); "sysfs" or "sysfs:BAT0": the machine's fuel gauge */
  const char* power_mode; /* NULL or "auto": chosen from the battery level; "parallel", "throttled" or
                             "on-demand": forced */
  int32_t ignore_eos;    /* 1: end tokens do not end an answer, every answer is n_predict tokens
                            (benchmarks: the same work whatever the run) */
  double t_high, t_low;   /* with a power policy, the battery thresholds in %: parallel above t_high, throttled
                             down to t_low, on-demand at or below it. 0 and 0: the defaults, 50 and 20
                             (runtime/energy/power_policy.h says why); else 0 <= t_low < t_high <= 95 */
  int32_t watch;          /* folder sources: 1 = after the files already there, wait for new ones (written
                             and closed, or moved in; hidden ".names" skipped) and answer each as it arrives,
                             asleep in between (inotify: no CPU time while idle); 0 = stop at the last file */
  int32_t watch_fd;       /* with watch: a descriptor (0: standard input) whose lines each ask about the
                             latest frame again and whose end of input ends the stream; -1 (the default):
                             none, the stream then ends only with max_frames */
  int32_t replan;         /* 1: re-plan while the stream runs (README.md, "Re-planning"): a brick whose device
                             stays over 1.5x slower than expected for 3 runs in a row moves to the device the
                             planner (this machine's calibration, else the built-in estimate) then prefers,
                             between two frames, and a low battery re-plans for energy; 2: the same, each
                             decision printed on stderr ("nanomind: re-plan: ..."); 0: bricks stay put */
} nm_stream_params;

#define NM_POWER_NONE (-1)
#define NM_POWER_PARALLEL 0
#define NM_POWER_THROTTLED 1
#define NM_POWER_ON_DEMAND 2

typedef struct nm_frame_answer {
  int64_t frame;          /* the frame's number in the stream, from 0 */
  const char* name;       /* file name, "video0 frame 12", or the label given to nm_stream_push */
  nm_status status;       /* NM_OK: text is the answer; else text is why there is none */
  const char* text;
  int32_t dropped;        /* 1: dropped unanswered (drop_frames) */
  int32_t n_generated;
  double vision_ms, prefill_ms, decode_ms;
  double done_ms;         /* since the stream began */
  int32_t power_mode;     /* NM_POWER_PARALLEL / _THROTTLED / _ON_DEMAND the frame was asked in; NM_POWER_NONE
                             without a power policy */
  double battery_level;   /* 0..1, read before the frame was asked; NaN when unknown or without a battery */
} nm_frame_answer;
/* Called once per asked frame, on the thread that runs the stream; the strings are valid
 * during the call. */
typedef void (*nm_answer_callback)(const nm_frame_answer* answer, void* user_data);

typedef struct nm_stream_stats {
  int32_t asked, answered, failed, dropped;
  double first_answer_ms, total_ms;
  uint64_t bytes_copied_between_bricks; /* 0: every picture reached the text brick in place */
  /* With a power policy (else 0): */
  int32_t answered_per_mode[3];  /* indexed by NM_POWER_PARALLEL, _THROTTLED, _ON_DEMAND */
  int32_t skipped;               /* frames a full-rate stream would have asked, skipped by throttling */
  int32_t mode_changes;
  int32_t battery_empty;         /* 1: the stream stopped because the battery ran out */
  double joules_per_mode[3];     /* energy drawn in each mode (energy_measured: from a sensor, else estimated) */
  double seconds_per_mode[3];
  int32_t energy_measured;
} nm_stream_stats;

NM_API nm_stream_params nm_stream_default_params(void);
/* Answers the frames of `source`: a folder of JPEG/PNG/BMP files (in name order; an
 * unreadable file gives a failed answer, the others go on) or a V4L2 video device
 * (/dev/videoN). Returns when the source ends; stats may be NULL. Needs an mmproj. */
NM_API nm_status nm_session_run_stream(nm_session* session, const char* source, const nm_stream_params* params,
                                       nm_answer_callback cb, void* user_data, nm_stream_stats* stats);

/* Frames from the application: begin, push any number of frames (the pixels are copied;
 * push returns at once), end (waits for every answer, then frees the stream). Answers are
 * delivered on the stream's own thread. The session must not be used otherwise until end. */
typedef struct nm_stream nm_stream;
NM_API nm_status nm_stream_begin(nm_session* session, const nm_stream_params* params, nm_answer_callback cb,
                                 void* user_data, nm_stream** out);
NM_API nm_status nm_stream_push(nm_stream* stream, const nm_image* image, const char* name);
NM_API nm_status nm_stream_end(nm_stream* stream, nm_stream_stats* stats);

/* Tracing: from nm_session_trace_start on, every brick run (vision encode, prefill,
 * decode, a stream's answers) and every token-ring hand-off of the session is recorded;
 * nm_session_trace_write writes what was recorded so far as Chrome trace events (JSON;
 * opens in Perfetto and chrome://tracing): a process track per device, a thread track
 * per brick, ring hand-offs as flow arrows. Starting again discards the earlier events. */
NM_API nm_status nm_session_trace_start(nm_session* session);
NM_API nm_status nm_session_trace_write(nm_session* session, const char* path);

/* Raw completion of text with no chat template. */
NM_API nm_status nm_session_complete(nm_session* session, const char* text, int32_t n_predict,
                                     nm_token_callback cb, void* user_data);
/* Forgets the conversation (keeps the allocations). */
NM_API void nm_session_reset(nm_session* session);
/* The power mode of the session's bricks from now on, for a caller that runs its own power
 * policy between turns (`nanomind assist`): NM_POWER_PARALLEL and NM_POWER_THROTTLED keep the
 * bricks resident; NM_POWER_ON_DEMAND gives them back now and after every run (this
 * session's weight mappings, graphs and KV cache; packed weight copies shared with the
 * model's other sessions stay with the model; the next turn loads the rest again).
 * n_threads: threads of the default CPU placement from now on, clamped to 1..the session's
 * n_threads (throttled: fewer).
 * Answers do not change: the kernels give the same bits for any thread count. Call it
 * between turns, never during one. NM_ERR_INVALID_ARGUMENT for a NULL session or another
 * mode (the NM_POWER_* values of nm_frame_answer). */
NM_API nm_status nm_session_set_power_mode(nm_session* session, int32_t mode, int32_t n_threads);

/* Low-level: appends n >= 1 tokens (each 0..n_vocab-1) to the context (batched prefill). */
NM_API nm_status nm_session_eval(nm_session* session, const int32_t* tokens, int32_t n);
/* Low-level: samples the next token from the last evaluated position (does not eval it). */
NM_API nm_status nm_session_sample(nm_session* session, int32_t* token);
/* Low-level: copies the last evaluated position's logits (nm_model_n_vocab floats) into out,
 * which holds n floats. NM_ERR_INVALID_ARGUMENT when nothing was evaluated since the session
 * began or was reset; NM_ERR_OUT_OF_RANGE when n is smaller than the vocabulary. */
NM_API nm_status nm_session_get_logits(nm_session* session, float* out, int32_t n);
/* Tokens in the context so far (0 for NULL). */
NM_API int32_t nm_session_n_past(const nm_session* session);
NM_API int32_t nm_session_n_ctx(const nm_session* session);

/* ---- Step-wise generation, for programs that own the generation loop (a server that
 * serves several sessions at once, decoding them together). Each answer is independent:
 * begin_* replaces the session's conversation with the given one and keeps the longest
 * prefix of it the KV cache already holds (a prompt with images is evaluated from the
 * start). nm_session_next samples one token; unless the answer finished, that token is
 * pending until nm_sessions_decode evaluates it. ---- */
typedef struct nm_chat_message {
  const char* role;    /* "system", "user" or "assistant" */
  const char* content; /* UTF-8 text */
  int32_t n_images;    /* images of this message: the next n_images of the images array, in order */
} nm_chat_message;

typedef struct nm_generate_params {
  int32_t n_predict;          /* most tokens to generate */
  nm_sampling_params sampling;
  const char* const* stop;    /* stop strings besides the chat template's (not part of the answer) */
  int32_t n_stop;
  int32_t ignore_eos;         /* 1: end-of-turn tokens do not end the answer (fixed-length benchmarks) */
} nm_generate_params;

typedef enum nm_finish {
  NM_FINISH_NONE = 0,   /* the answer goes on */
  NM_FINISH_STOP = 1,   /* an end-of-turn token or a stop string */
  NM_FINISH_LENGTH = 2, /* n_predict tokens, or the context is full */
} nm_finish;

NM_API nm_generate_params nm_generate_default_params(void);
/* A chat answer to messages (with images, which need an mmproj; n_images in all). */
NM_API nm_status nm_session_begin_chat(nm_session* session, const nm_chat_message* messages, int32_t n_messages,
                                       const nm_image_bytes* images, int32_t n_images,
                                       const nm_generate_params* params);
/* A raw completion of prompt (no chat template; BOS added as the model file asks). */
NM_API nm_status nm_session_begin_completion(nm_session* session, const char* prompt,
                                             const nm_generate_params* params);
/* Samples the next token. *piece receives the text that became safe to show (valid UTF-8,
 * possibly empty; valid until the session's next call), *token the token (-1 if none was
 * sampled because the answer had finished), *finished whether the answer is over. */
NM_API nm_status nm_session_next(nm_session* session, const char** piece, int32_t* token, nm_finish* finished);
/* Evaluates the pending token of each of n sessions (those without one are skipped): in one
 * forward pass (continuous batching: the weights are read once for all) when the sessions
 * share the model, device and context shape, else one after the other. */
NM_API nm_status nm_sessions_decode(nm_session* const* sessions, int32_t n);
/* Tokens of the prompt and of the answer of the session's current (or last) answer. */
NM_API void nm_session_usage(const nm_session* session, int32_t* n_prompt, int32_t* n_generated);

typedef struct nm_model_info {
  char arch[32];
  int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
  int64_t n_params;
  uint64_t weight_bytes;          /* every tensor in the file */
  uint64_t weight_bytes_per_token; /* bytes of weights one decode step reads */
  char weight_type[16];           /* most common matrix type, e.g. "q4_0" */
} nm_model_info;
/* NM_ERR_INVALID_ARGUMENT when model or out is NULL. */
NM_API nm_status nm_model_get_info(const nm_model* model, nm_model_info* out);

typedef struct nm_timings {
  double load_ms;
  int32_t n_images;        /* images in the last turn */
  double preprocess_ms;    /* their resize + normalisation */
  double vision_ms;        /* vision encoder + projector */
  int32_t n_prompt_tokens; /* positions evaluated (image embeddings included) */
  double prompt_ms;        /* prefill of the last turn */
  int32_t n_generated;
  double generate_ms;      /* decode of the last turn */
  double first_token_ms;   /* from the start of the turn to the first generated token */
  char text_device[32];    /* device the text brick ran on, e.g. "cpu", "opencl" */
  char vision_device[32];  /* device of the vision brick ("" without one) */
} nm_timings;
/* NM_ERR_INVALID_ARGUMENT when session or out is NULL. */
NM_API nm_status nm_session_get_timings(const nm_session* session, nm_timings* out);

/* Energy of the last turn, from the machine's power sensor where it has one (RAPL, an hwmon
 * power rail, the battery's fuel gauge: measured = 1), otherwise estimated from a device
 * profile (measured = 0; see nm_model_params.power_profile). `source` names which. A
 * measured figure is the whole machine's energy while the turn ran: turns of other sessions
 * running at the same time are included; an estimated one counts only this turn's work.
 * An answer generated step by step (nm_session_begin_chat / _next / nm_sessions_decode) is
 * charged per decode step, each batched step's joules split equally among the sessions it
 * advanced; its figures are ready once nm_session_next reports the end of the answer. */
typedef struct nm_energy {
  int32_t valid;             /* 0: no sensor and no profile, or no turn yet: the rest is zero */
  int32_t measured;          /* 1: from a power sensor; 0: estimated from a device profile */
  double joules;             /* the whole turn */
  double seconds;
  double vision_joules;      /* images: vision encoder + projector (and their preprocessing) */
  double prefill_joules;
  double decode_joules;
  double prefill_joules_per_token;  /* per prompt position evaluated (0 when none) */
  double decode_joules_per_token;   /* per generated token (0 when none) */
  char source[192];          /* "RAPL package-0 (powercap)", "estimated from profile rk3566: ..." */
} nm_energy;
/* NM_ERR_INVALID_ARGUMENT when session or out is NULL. */
NM_API nm_status nm_session_get_energy(const nm_session* session, nm_energy* out);

/* Threads used when n_threads is 0: one per core of the fastest CPU cluster. */
NM_API int nm_default_threads(void);
/* Measures this machine's memory read bandwidth in bytes/s with n_threads (0 = default);
 * takes about a second. Used by benchmarks to report speed as a fraction of the limit.
 * 0 when it cannot measure (n_threads < 0 or > NM_MAX_THREADS, no memory, no threads). */
NM_API double nm_measure_read_bandwidth(int n_threads);

/* ---- Speech recognition (Whisper) ---------------------------------------------------
 * An nm_asr is a Whisper model (whisper.cpp's ggml-*.bin file or a faster-whisper /
 * CTranslate2 directory) with one transcription stream's state. Audio is any rate and
 * channel count (mixed to mono, resampled to 16 kHz). Thread-safety: one thread per nm_asr. */
typedef struct nm_asr nm_asr;

typedef struct nm_asr_params {
  const char* model_path; /* ggml-*.bin file or CTranslate2 directory (required) */
  int n_threads;          /* 0 = one per core */
  int32_t max_sequences;  /* most sequences decoded side by side (beam size, best-of); 0 = 5 */
  const char* devices;    /* NULL or "" = the CPU; "opencl" = both bricks there; or per brick,
                             "audio=opencl,asr=cpu" (the encoder is the brick worth a GPU/NPU) */
  int32_t no_repack;      /* 0 = on a CPU, quantised matrices (Q8_0, Q4_0, Q5_0, ...) run from a
                             row-interleaved copy made at load, faster (it costs their bytes once
                             more: Whisper keeps its own copy); 1 = from the model's layout */
} nm_asr_params;

typedef struct nm_transcribe_params {
  const char* language;   /* "auto" (detect; the default) or a code: "en", "de", ... */
  int32_t translate;      /* 1: translate into English */
  int32_t timestamps;     /* 1 (default): decode timestamp tokens, segments carry times */
  int32_t beam_size;      /* 5 (default, as whisper.cpp); 1 = greedy */
  int32_t best_of;        /* candidates sampled at temperature > 0 (default 5) */
  int32_t no_fallback;    /* 1: temperature 0 only (no retry of repetitive/unlikely windows) */
  float entropy_threshold;   /* 2.4: a window whose last 32 tokens have less entropy is retried */
  float logprob_threshold;   /* -1.0: a window with lower mean log-probability is retried */
  float no_speech_threshold; /* 0.6: above this (and unlikely text) a window is silence */
  const char* initial_prompt; /* NULL or text that conditions the first window */
  uint64_t seed;
  int32_t vad;            /* 1: decode only the speech spans a voice activity detector finds */
  const char* vad_model;  /* Silero VAD v6 (silero_vad_16k.safetensors); NULL: the energy detector */
  float duration_s;       /* > 0: only the first duration_s seconds (of a file, or of the capture) */
  int32_t audio_ctx;      /* encoder positions per window (whisper.cpp's audio_ctx): 0 (default) all
                             1500 of a 30 s window, as Whisper; N: the window's first N x 20 ms;
                             -1: fitted to each window's audio (faster on short audio; not the
                             reference computation) */
} nm_transcribe_params;

/* Called with each segment as soon as it is decoded (text is UTF-8). Return non-zero to stop
 * after the current 30 s window (its segments and those before are the result). */
typedef int (*nm_segment_callback)(double t0, double t1, const char* text, void* user_data);

NM_API nm_asr_params nm_asr_default_params(void);
NM_API nm_transcribe_params nm_transcribe_default_params(void);
/* Loads a Whisper model. On failure *out is NULL and err (if not NULL) holds the reason. */
NM_API nm_status nm_asr_load(const nm_asr_params* params, nm_asr** out, char* err, size_t err_size);
NM_API void nm_asr_free(nm_asr* asr);
NM_API const char* nm_asr_last_error(const nm_asr* asr);
/* One line about the model, e.g. "Whisper base (multilingual, ...), f16, CTranslate2". */
NM_API const char* nm_asr_describe(const nm_asr* asr);

/* Transcribes interleaved float PCM (n_frames frames of `channels` samples at sample_rate).
 * params may be NULL (defaults); on_segment may be NULL. */
NM_API nm_status nm_asr_transcribe_pcm(nm_asr* asr, const float* pcm, int64_t n_frames, int32_t channels,
                                       int32_t sample_rate, const nm_transcribe_params* params,
                                       nm_segment_callback on_segment, void* user_data);
/* Transcribes an audio file (WAV, FLAC, OGG, MP3, ...). */
NM_API nm_status nm_asr_transcribe_file(nm_asr* asr, const char* path, const nm_transcribe_params* params,
                                        nm_segment_callback on_segment, void* user_data);

/* Live speech from an ALSA capture device ("default", "plughw:1,0", ...), or from an audio
 * file played as one (device names an existing file: tests, demos): a voice activity
 * detector (params->vad_model, else the energy detector) cuts utterances, and each is
 * transcribed as soon as it ends (segment times count from the start of the capture).
 * Returns when on_segment returns non-zero, after params->duration_s of audio (if > 0), or
 * when the device ends. */
NM_API nm_status nm_asr_transcribe_mic(nm_asr* asr, const char* device, const nm_transcribe_params* params,
                                       nm_segment_callback on_segment, void* user_data);

/* Decodes an audio file held in memory (WAV, FLAC, OGG, MP3, ...: what libsndfile reads) into
 * mono float PCM at sample_rate (16000 feeds nm_asr_transcribe_pcm without resampling).
 * Audio longer than max_seconds (0 or above 4 hours: the 4-hour limit) is refused by its
 * declared length before anything is decoded, else as soon as the samples pass it. On
 * success *samples (free it with nm_audio_free) holds *n_samples samples. Not audio, damaged,
 * too long: NM_ERR_INVALID_FILE with the reason in err; NULL pointers or a sample rate out of
 * 1000..768000: NM_ERR_INVALID_ARGUMENT; a build without libsndfile: NM_ERR_UNSUPPORTED. */
NM_API nm_status nm_audio_decode(const uint8_t* data, size_t size, int32_t sample_rate, double max_seconds,
                                 float** samples, int64_t* n_samples, char* err, size_t err_size);
NM_API void nm_audio_free(float* samples);

/* Results of the last transcription: the whole text, the segments, the language code. */
NM_API int32_t nm_asr_get_text(const nm_asr* asr, char* buf, int32_t buf_size); /* bytes needed (without NUL) */
NM_API int32_t nm_asr_n_segments(const nm_asr* asr);
NM_API nm_status nm_asr_get_segment(const nm_asr* asr, int32_t i, double* t0, double* t1, char* text,
                                    int32_t text_size);
NM_API const char* nm_asr_language(const nm_asr* asr);

typedef struct nm_asr_timings {
  double load_ms, audio_ms, mel_ms, encode_ms, decode_ms; /* audio_ms: decoding + resampling input */
  double audio_seconds;   /* length of the last input */
  int32_t n_windows, n_fallbacks, n_skipped, n_tokens;
} nm_asr_timings;
NM_API void nm_asr_get_timings(const nm_asr* asr, nm_asr_timings* out);

/* Feeds speech to a session: transcribes the audio with `asr` and sends the transcript as the
 * user's message (as nm_session_chat). The transcript is also in nm_asr_get_text. A failed
 * transcription (or one with no speech) leaves its message in nm_asr_last_error; a failed
 * chat turn in nm_session_last_error. */
NM_API nm_status nm_session_chat_audio(nm_session* session, nm_asr* asr, const float* pcm, int64_t n_frames,
                                       int32_t channels, int32_t sample_rate, int32_t n_predict,
                                       nm_token_callback on_token, void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* NANOMIND_H */
