// N-API face of the host capability probe: exports hostCapabilities().
// Boundary: conversion only (C++ struct -> JS object); the probing lives in src/core/base/capabilities.
#pragma once

#include <napi.h>

namespace sf::binding {

// Adds `hostCapabilities` to the module's exports.
void RegisterCapabilities(Napi::Env env, Napi::Object exports);

}  // namespace sf::binding
