/* The smallest NanoMind program: load a GGUF model, ask one question, stream the
 * answer. Uses only the public C API (include/nanomind/nanomind.h).
 *
 *   simple_chat MODEL.gguf "What is the capital of France?"
 */
#include <stdio.h>

#include "nanomind/nanomind.h"

static int print_piece(const char* piece, int32_t token, void* user_data) {
  (void)token;
  (void)user_data;
  fputs(piece, stdout);
  fflush(stdout);
  return 0; /* keep going */
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
    return 2;
  }
  nm_model_params mp = nm_model_default_params();
  mp.model_path = argv[1];
  nm_model* model = NULL;
  char err[512];
  if (nm_model_load(&mp, &model, err, sizeof err) != NM_OK) {
    fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  nm_session_params sp = nm_session_default_params();
  sp.sampling.temperature = 0.0f; /* greedy */
  nm_session* session = NULL;
  if (nm_session_init(model, &sp, &session, err, sizeof err) != NM_OK) {
    fprintf(stderr, "error: %s\n", err);
    nm_model_free(model);
    return 1;
  }
  int rc = 0;
  if (nm_session_chat(session, argv[2], 64, print_piece, NULL) != NM_OK) {
    fprintf(stderr, "\nerror: %s\n", nm_session_last_error(session));
    rc = 1;
  }
  nm_timings t;
  nm_session_get_timings(session, &t);
  fprintf(stderr, "\n%d prompt tokens, %d generated in %.1f ms\n", t.n_prompt_tokens, t.n_generated, t.generate_ms);
  nm_session_free(session);
  nm_model_free(model);
  return rc;
}
