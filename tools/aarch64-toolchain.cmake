# Cross build for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu and the
# arm64 multiarch -dev packages (tools/test-aarch64.sh installs both):
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=tools/aarch64-toolchain.cmake
# Test programs run through qemu-aarch64 (ctest prepends the emulator). The
# arm64 -dev packages install the multiarch libc6:arm64 (/lib/ld-linux-aarch64.so.1),
# which qemu then finds without -L; with -L /usr/aarch64-linux-gnu the cross
# loader would meet the multiarch libc (a newer build) and hang in pthread_create.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# pkg-config reads only the arm64 .pc files (headers are shared in /usr/include)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
