// A camera folder watched for new frames: the image files already there (in name order),
// then each file completely written into the folder or moved in, as it arrives. Between
// arrivals the reading thread sleeps in poll(2) (runtime/wake_events.h: inotify, no timer,
// no polling loop), so an idle assistant takes no CPU time. Lines on `lines_fd` (standard
// input) wake it too: each asks about the latest frame again; the end of that input ends
// the stream. Hidden files (".name") are skipped, so a camera can write ".f.png" and rename
// it when complete; a name already seen is not asked about twice.
// Thread-safety: a source is read by one thread.
#pragma once

#include <memory>
#include <string>

#include "runtime/frame_source.h"

namespace nm {

// lines_fd: a descriptor to read lines from (owned by the caller), or -1 for none (the
// stream then ends only with max_frames). max_frames > 0 stops after that many frames.
// Error when `dir` is not a folder that can be watched.
Result<std::unique_ptr<FrameSource>> open_watched_folder_source(const std::string& dir, int lines_fd,
                                                                int max_frames = 0);

}  // namespace nm
