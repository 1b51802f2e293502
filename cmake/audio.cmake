# Audio input libraries, each optional so that builds for targets without them (the
# aarch64 cross build has no target libsndfile/libsamplerate/ALSA) still build: without
# libsndfile only PCM from memory is accepted, without libsamplerate only PCM already at
# the model's rate, without ALSA no microphone. Native builds find all three (Debian:
# libsndfile1-dev, libsamplerate0-dev, libasound2-dev; scripts/install-deps.sh).
find_path(NM_SNDFILE_INCLUDE sndfile.h)
find_library(NM_SNDFILE_LIB sndfile)
find_path(NM_SAMPLERATE_INCLUDE samplerate.h)
find_library(NM_SAMPLERATE_LIB samplerate)
find_path(NM_ALSA_INCLUDE alsa/asoundlib.h)
find_library(NM_ALSA_LIB asound)

function(nm_optional_audio_lib target define include lib what)
  if(${include} AND ${lib})
    target_include_directories(${target} SYSTEM PRIVATE ${${include}})
    target_link_libraries(${target} PUBLIC ${${lib}})
    target_compile_definitions(${target} PRIVATE ${define}=1)
    message(STATUS "NanoMind: ${what} ON (${${lib}})")
  else()
    target_compile_definitions(${target} PRIVATE ${define}=0)
    message(STATUS "NanoMind: ${what} OFF (library not found)")
  endif()
endfunction()
