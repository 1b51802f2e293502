// WAV-folder sink (the speaker sink is inline in the header).
#include "runtime/speech_sinks.h"

#include <unistd.h>

#include <filesystem>

namespace nm {

Result<std::unique_ptr<WavFolderSink>> WavFolderSink::create(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return error(ErrorCode::invalid_argument, "--say needs a folder for the answers' WAV files: '" + dir + "' is not one");
  }
  if (::access(dir.c_str(), W_OK) != 0) return error(ErrorCode::io_error, "cannot write into the folder '" + dir + "'");
  return std::unique_ptr<WavFolderSink>(new WavFolderSink(dir));
}

Status WavFolderSink::begin_turn(int turn) {
  path_ = (std::filesystem::path(dir_) / ("answer-" + std::to_string(turn) + ".wav")).string();
  open_ = false;
  return Status();
}

Status WavFolderSink::write(std::span<const float> samples, int sample_rate) {
  if (!open_) {
    NM_RETURN_IF_ERROR(wav_.open(path_, sample_rate));
    open_ = true;
  }
  return wav_.write(samples);
}

Status WavFolderSink::end_turn() {
  if (!open_) return Status();
  open_ = false;
  return wav_.close();
}

}  // namespace nm
