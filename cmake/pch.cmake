# Precompiled headers: the standard library headers most files include, parsed once per
# target instead of once per file (with GoogleTest for the tests, CLI11 for the CLI). The
# test script builds the library four times (release, sanitizers, ThreadSanitizer, aarch64),
# so header parsing was a large share of CI's time. The ThreadSanitizer build turns them off
# (scripts/build.sh), so every file is still compiled on its own includes somewhere.
option(NM_PCH "Precompile common headers" ON)

set(NM_PCH_STD <algorithm> <array> <atomic> <chrono> <cmath> <condition_variable> <cstddef>
    <cstdint> <cstdio> <cstdlib> <cstring> <deque> <filesystem> <fstream> <functional> <map>
    <memory> <mutex> <optional> <random> <set> <span> <sstream> <string> <string_view> <thread>
    <unordered_map> <utility> <variant> <vector>)

# nm_precompile_headers(<target> [header...]): the standard set plus the given headers.
# Files with options of their own (ISA flags, coverage settings) are left out: a header
# precompiled under other flags cannot be used for them (clang refuses it outright).
function(nm_precompile_headers target)
  if(NOT NM_PCH)
    return()
  endif()
  target_precompile_headers(${target} PRIVATE ${NM_PCH_STD} ${ARGN})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 loses the system-header mark of headers it loads from a .gch, and then reports
    # its known -Warray-bounds and -Wstringop-overread false positives inside libstdc++'s
    # string code (the same file with the same headers included as text: no warning). The
    # build without precompiled headers (ThreadSanitizer's) keeps these warnings.
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overread)
  endif()
  get_target_property(sources ${target} SOURCES)
  foreach(f IN LISTS sources)
    get_source_file_property(opts ${f} COMPILE_OPTIONS)
    if(opts)
      set_source_files_properties(${f} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
