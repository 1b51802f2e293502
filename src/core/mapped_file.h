// MappedFile: a read-only memory mapping of a whole file (RAII). Model weights are used
// in place from the mapping, so opening a model costs no copy. Immutable after open:
// safe to read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace nm {

class MappedFile {
 public:
  // Errors (io_error / invalid_file): missing file, a directory, an empty file, unreadable.
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Optional hints to the kernel; failures are ignored.
  void advise_sequential() const;
  void advise_random() const;
  void advise_willneed(size_t offset, size_t length) const;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nm
