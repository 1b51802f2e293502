// Strict readers for the small text files of sysfs (one integer or one word per file),
// under a root directory so that tests can point every meter at a fake tree
// (NM_SYSFS_ROOT). A missing or unreadable file is an io_error, anything that is not
// exactly one integer (empty, "12abc", out of range) an invalid_file error whose message
// names the file and what it held: the meters refuse such values, they never guess.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm::energy {

// The sysfs root: `override_root` if non-empty, else $NM_SYSFS_ROOT if set, else "/".
std::string sysfs_root(const std::string& override_root = {});

// root + "/" + rel with exactly one slash between them.
std::string sysfs_path(const std::string& root, const std::string& rel);

// The file's text with trailing whitespace removed (at most 4 KiB are read: sysfs
// attributes are one page at most).
Result<std::string> read_sysfs_text(const std::string& path);

// One signed decimal integer, surrounding whitespace allowed.
Result<int64_t> read_sysfs_int(const std::string& path);

// Parses one signed decimal integer (what read_sysfs_int does after reading).
Result<int64_t> parse_sysfs_int(const std::string& text, const std::string& what);

// Names of the entries of a directory, sorted "naturally" (hwmon2 before hwmon10);
// empty if the directory does not exist or cannot be read.
std::vector<std::string> list_sysfs_dir(const std::string& path);

bool sysfs_exists(const std::string& path);

}  // namespace nm::energy
