# Warnings and sanitizer flags shared by every target.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)
if(NM_WERROR)
  add_compile_options(-Werror)
endif()
if(NM_SANITIZE OR NM_TSAN OR NM_FUZZ)
  # Sanitized builds check the kernels' code with fewer template instances where one file
  # would otherwise take minutes to compile (src/kernels/matmul_packed_k_avx512.cpp).
  add_compile_definitions(NM_SANITIZED=1)
endif()
if(NM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Clang links its sanitizer runtime statically into executables by default; the Python
    # tests preload the shared one (for the shim) and the programs they start inherit it, so
    # every program links the shared runtime, found through the rpath.
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libclang_rt.asan-x86_64.so
                    OUTPUT_VARIABLE NM_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
    get_filename_component(nm_asan_dir "${NM_LIBASAN}" DIRECTORY)
    add_link_options(-shared-libasan -Wl,-rpath,${nm_asan_dir})
  endif()
endif()
if(NM_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(NM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # (A build directory first configured with GCC keeps it: remove it, e.g. an old build-asan/.)
    message(FATAL_ERROR "NM_FUZZ needs clang (libFuzzer): configure a new build directory with CC=clang CXX=clang++ (this one uses ${CMAKE_CXX_COMPILER_ID}; remove it)")
  endif()
  if(NOT NM_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
  endif()
endif()
# Coverage instrumentation, so libFuzzer is guided inside the library: only on the libraries
# the fuzz targets call (nm_fuzz_coverage), not on the tests and programs sharing the build,
# and not on the kernels and backends (no parsing there; counters and comparison hooks in
# their inner loops slowed the sanitized test suite that shares this build).
function(nm_fuzz_coverage target)
  if(NOT NM_FUZZ)
    return()
  endif()
  target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  get_target_property(sources ${target} SOURCES)
  list(FILTER sources INCLUDE REGEX "/src/(kernels|backend)/")
  set_property(SOURCE ${sources} APPEND PROPERTY COMPILE_OPTIONS -fno-sanitize=fuzzer-no-link)
endfunction()
