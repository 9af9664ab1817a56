// Field-by-field conversions between the VMM's C++ types and the plain JS values native/lib/vm.ts expects.
// Boundary: conversion and type/length checks only, no decisions. JS names are camelCase; every uint64 counter
// crosses as a JS number (exact up to 2^53), call ids as BigInt.
#pragma once

#include <napi.h>

#include <string>

#include "../core/vmm/vm.h"

namespace sf::binding {

// {vcpus, ramBytes, cmdline, clusterid, vmid, imagePath, privilege, net?, disk?: {image, overlayDir, id}} -> VmConfig + image path. EINVAL on a
// wrong type; net's addresses are parsed and checked (check_net_config) here.
sf::Status VmConfigFromJs(const Napi::Value& value, sf::vmm::VmConfig& config, std::string& image_path);

// {id: bigint, nr, vcpu, request: {nr, flags, nclones, min, status, timeoutMs, ticket}}
Napi::Object GuestCallToJs(Napi::Env env, const sf::vmm::GuestCall& call);

// {status, count, vmid, nunused, noutstanding, ticket, errmsg, tickets[], alloc[{vmid, processors}]} -> sf_hc_reply.
// Strings must fit their NUL-terminated fields; arrays their ABI limits. EINVAL (with the field named) otherwise.
sf::Status GuestReplyFromJs(const Napi::Value& value, sf_hc_reply& reply);

// {vmid, lazy, cloneReply: reply | null, net?, disk?: {overlayDir}} -> vmid + CloneOptions. EINVAL (with the field named) otherwise.
sf::Status CloneOptionsFromJs(const Napi::Value& value, uint32_t& vmid, sf::vmm::CloneOptions& options);

// {ramBytes, vcpus, privilege: 'user' | 'kernel'} -> CloneShape. EINVAL (with the field named) otherwise.
sf::Status CloneShapeFromJs(const Napi::Value& value, sf::vmm::CloneShape& shape);

// The keys of SF_MEMTAP_COUNTERS (core/memory/memtap_stats.h).
Napi::Object MemtapStatsToJs(Napi::Env env, const sf::memory::MemtapStats& stats);

// The keys of SF_NET_COUNTERS (core/devices/net_stats.h).
Napi::Object NetStatsToJs(Napi::Env env, const sf::devices::NetStats& stats);

// {device: the keys of SF_BLK_COUNTERS, overlay: the keys of SF_OVERLAY_COUNTERS} (core/devices/blk_stats.h).
Napi::Object DiskStatsToJs(Napi::Env env, const sf::vmm::DiskStats& stats);

// A reply carrying only a failure: status = -code, errmsg = message (truncated to fit).
sf_hc_reply FailureReply(int sf_code, const std::string& message);

// The keys of SF_VM_COUNTERS (core/vmm/vm_stats.h), then consoleBytesDropped.
Napi::Object VmStatsToJs(Napi::Env env, const sf::vmm::VmStats& stats, uint64_t console_bytes_dropped);

// Reads a call id (BigInt, or a non-negative integer Number). False when it is neither.
bool CallIdFromJs(const Napi::Value& value, uint64_t& id);

}  // namespace sf::binding
