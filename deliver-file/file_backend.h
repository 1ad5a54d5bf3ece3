// deliver-file: writes each delivery as one .eml in [file] dir, exactly as queued (CRLF,
// with smtpd's Received: header), atomically: temp file, fsync, rename, fsync of the
// directory. The development backend of `make run`, and a safe local sink in production.
// Runs on the agent's loop (writes are small and local; fsync blocks briefly).
#pragma once

#include <memory>
#include <string>

#include "common/agent/agent.h"

namespace mailrelay::file {

class FileBackend : public agent::Backend {
 public:
  explicit FileBackend(std::string dir) : dir_(std::move(dir)) {}
  void Deliver(std::shared_ptr<const agent::DeliveryJob> job, agent::DoneFn done) override;
  int64_t DeadlineSeconds() const override { return 120; }

 private:
  std::string dir_;
};

// "<queue id>.eml", or "<queue id>.<n>.eml" when a file for that message already exists
// (a message whose recipients were delivered in several jobs).
std::string ChooseName(const std::string& dir, const std::string& queue_id);

}  // namespace mailrelay::file
