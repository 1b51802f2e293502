/* stb_image's implementation, compiled from the header for cross builds, where Debian's
   libstb (built for the host) cannot be linked. Native builds link libstb instead. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
