// Human-readable renderings of qmgr's JSON replies (tables in the style of postqueue -p).
// Pure.
#pragma once

#include <string>

#include "common/json/json.h"

namespace mailrelay::relayctl {

std::string FormatStatus(const json::Value& v);
std::string FormatList(const json::Value& v);
std::string FormatShow(const json::Value& v);
std::string FormatLog(const json::Value& v);
std::string FormatAge(int64_t seconds);  // "42s", "5m", "3h", "2d"
std::string FormatTime(int64_t unix_seconds);  // local "2026-11-23 13:09:00"

}  // namespace mailrelay::relayctl
