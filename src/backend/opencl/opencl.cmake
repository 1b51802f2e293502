# OpenCL backend: built by default when OpenCL headers and an ICD loader are found.
# Kernels are .cl files under kernels/, embedded at build time into a generated C++
# source in the build dir (cmake/embed_files.cmake), not kept as strings in C++.
option(NM_OPENCL "Build the OpenCL backend when OpenCL is found" ON)
if(NM_OPENCL)
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    set(NM_CL_DIR ${CMAKE_CURRENT_LIST_DIR})
    file(GLOB NM_OPENCL_SOURCES CONFIGURE_DEPENDS ${NM_CL_DIR}/*.cpp)
    file(GLOB NM_OPENCL_KERNELS CONFIGURE_DEPENDS ${NM_CL_DIR}/kernels/*.cl)
    string(REPLACE ";" "|" NM_CL_KERNEL_LIST "${NM_OPENCL_KERNELS}")  # one shell word
    set(NM_CL_GENERATED ${CMAKE_BINARY_DIR}/generated/opencl_kernels_embedded.cpp)
    add_custom_command(
      OUTPUT ${NM_CL_GENERATED}
      COMMAND ${CMAKE_COMMAND} -DOUT=${NM_CL_GENERATED} "-DFILES=${NM_CL_KERNEL_LIST}"
              -DHEADER=backend/opencl/opencl_kernels.h -DTYPE=EmbeddedKernel -DFUNCTION=opencl_embedded_kernels
              -DORIGIN=src/backend/opencl/kernels/*.cl -P ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
      DEPENDS ${NM_OPENCL_KERNELS} ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
      COMMENT "Embedding OpenCL kernels" VERBATIM)
    target_sources(nanomind PRIVATE ${NM_OPENCL_SOURCES} ${NM_CL_GENERATED})
    target_compile_definitions(nanomind PUBLIC NM_HAVE_OPENCL=1 CL_TARGET_OPENCL_VERSION=120)
    target_link_libraries(nanomind PUBLIC OpenCL::OpenCL)
    message(STATUS "NanoMind: OpenCL backend ON (${OpenCL_LIBRARY})")
  else()
    message(STATUS "NanoMind: OpenCL backend OFF (no OpenCL headers/loader found)")
  endif()
endif()
