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
endif()
if(NM_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(NM_FUZZ)
  # Coverage instrumentation for the whole library, so libFuzzer is guided inside it.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
