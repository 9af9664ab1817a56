# Build description of snowflock.node (the native data plane + its N-API binding).
# Boundary: compiler flags and source list only; scripts/build.mjs drives node-gyp with it.
{
  "targets": [
    {
      "target_name": "snowflock",
      "sources": [
        "src/core/capabilities.cc",
        "src/binding/addon.cc",
        "src/binding/capabilities_binding.cc"
      ],
      # include_dir is the unquoted path (node-addon-api >= 5); the older `include` is pre-quoted for shells.
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        # No C++ exceptions anywhere: N-API errors become pending JS exceptions, core errors are values.
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      # node's common.gypi adds -std=gnu++17; replace it, keep its -fno-exceptions / -fno-rtti.
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
