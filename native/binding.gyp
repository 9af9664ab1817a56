# Build description of snowflock.node (the native data plane + its N-API binding).
# Boundary: compiler flags and source list only; scripts/build.mjs drives node-gyp with it.
{
  "targets": [
    {
      "target_name": "snowflock",
      "sources": [
        "src/core/capabilities.cc",
        "src/core/host_tuning.cc",
        "src/core/vmm/elf_loader.cc",
        "src/core/vmm/guest_memory.cc",
        "src/core/vmm/hypercall.cc",
        "src/core/vmm/kvm.cc",
        "src/core/vmm/long_mode.cc",
        "src/core/vmm/memtap.cc",
        "src/core/vmm/run_control.cc",
        "src/core/vmm/serial.cc",
        "src/core/vmm/thread.cc",
        "src/core/vmm/ticker.cc",
        "src/core/vmm/vcpu.cc",
        "src/core/vmm/vm.cc",
        "src/binding/addon.cc",
        "src/binding/capabilities_binding.cc",
        "src/binding/vm_binding.cc",
        "src/binding/vm_convert.cc",
        "src/binding/vm_events.cc",
        "src/binding/snapshot_binding.cc",
        "src/binding/memserver_binding.cc",
        # The memserver protocol: every file of the directory, so new parts are never left out of the addon.
        "<!@(ls -1 src/core/memserver/*.cc)",
        "src/core/vmm/descriptor.cc"
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
