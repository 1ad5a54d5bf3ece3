// File helpers: whole-file reads, secret files with permission checks, and atomic durable
// writes (temp file, fsync, rename, fsync directory). Blocking; call from startup code or
// from agents whose job is to write files.
#pragma once

#include <string>
#include <sys/types.h>

#include "common/util/status.h"

namespace mailrelay::util {

Result<std::string> ReadFile(const std::string& path, size_t max_size = 64 << 20);

// Reads a secret (password, key, client secret): the file must be a regular file not
// readable or writable by group or others (mode & 077 == 0). One trailing newline (LF or
// CRLF) is dropped. Errors name the file and say what to do.
Result<std::string> ReadSecretFile(const std::string& path);

// Writes `data` to dir/name durably: dir/.name.tmp.PID, fsync, rename, fsync(dir).
// After OK the file is complete on disk under its final name or not there at all.
Status WriteFileAtomic(const std::string& dir, const std::string& name, const std::string& data,
                       mode_t mode = 0640);

// mkdir -p with the given mode for created components.
Status MakeDirs(const std::string& path, mode_t mode);

bool FileExists(const std::string& path);

// Whether existing `path` is `dir` itself or lies somewhere below it, after resolving
// symlinks, "." and "..". False when either does not exist.
bool IsInside(const std::string& path, const std::string& dir);

}  // namespace mailrelay::util
