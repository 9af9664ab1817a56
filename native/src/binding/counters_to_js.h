// CountersToJs: any counter set declared with SF_DEFINE_COUNTERS (core/base/counters.h) as a plain JS
// object, key by key in the set's order. Boundary: conversion only; the field lists live in the core.
// uint64 counters cross as JS numbers (exact up to 2^53), flags as booleans; SF_CPP_ONLY fields stay out.
#pragma once

#include <napi.h>

#include <cstdint>
#include <type_traits>

namespace sf::binding {

// for_each_counter is found by argument-dependent lookup in the namespace that declares Stats.
template <class Stats>
Napi::Object CountersToJs(Napi::Env env, const Stats& stats) {
  Napi::Object o = Napi::Object::New(env);
  for_each_counter(stats, [&](const char* key, auto value) {
    if (key == nullptr) return;
    if constexpr (std::is_same_v<decltype(value), bool>) {
      o.Set(key, Napi::Boolean::New(env, value));
    } else {
      static_assert(std::is_same_v<decltype(value), uint64_t>, "counters are uint64_t or bool");
      o.Set(key, Napi::Number::New(env, static_cast<double>(value)));
    }
  });
  return o;
}

}  // namespace sf::binding
