# Cross-compiles NanoMind for 64-bit ARM Linux (RK3588, Jetson, phones running Linux)
# with Debian's aarch64-linux-gnu GCC; tests run under qemu-user. scripts/build.sh aarch64
# uses it:  cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(NM_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${NM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${NM_CROSS_TRIPLE}-g++)

# Libraries and headers only from the target's tree (Debian's libc6-dev-arm64-cross);
# programs (python, qemu) from the host. /usr/aarch64-linux-gnu is searched as a find root,
# not passed as CMAKE_SYSROOT: Debian's cross GCC already looks there, and with --sysroot
# the linker cannot find libc (its linker script names /usr/aarch64-linux-gnu/lib/...).
set(NM_CROSS_SYSROOT /usr/${NM_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH ${NM_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest and gtest_discover_tests run target programs through qemu; -L lets it find the
# aarch64 dynamic loader and libc. QEMU_CPU (e.g. max, cortex-a53) picks the emulated CPU.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static;-L;${NM_CROSS_SYSROOT})
