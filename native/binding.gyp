# Build description of snowflock.node (the native data plane + its N-API binding).
# Boundary: compiler flags and source list only; scripts/build.mjs drives node-gyp with it.
{
  "targets": [
    {
      "target_name": "snowflock",
      # Every .cc of each core room (lowest first), so a new file is never left out of the addon; then the binding.
      "sources": [
        "<!@(find src/core/base -name '*.cc' | sort)",
        "<!@(find src/core/memory -name '*.cc' | sort)",
        "<!@(find src/core/devices -name '*.cc' | sort)",
        "<!@(find src/core/vmm -name '*.cc' | sort)",
        "<!@(find src/core/memserver -name '*.cc' | sort)",
        "<!@(find src/binding -name '*.cc' | sort)"
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
