#include "qmgr/rate_window.h"

namespace mailrelay::qmgr {

void RateWindow::Configure(const config::Rate& rate) {
  rate_ = rate;
  while (rate_.enabled() && starts_.size() > rate_.count) starts_.pop_front();
}

void RateWindow::Expire(int64_t now_us) {
  int64_t period = int64_t{rate_.period_seconds} * 1000000;
  while (!starts_.empty() && starts_.front() <= now_us - period) starts_.pop_front();
}

size_t RateWindow::Available(int64_t now_us) {
  if (!rate_.enabled()) return static_cast<size_t>(1) << 30;
  Expire(now_us);
  return starts_.size() >= rate_.count ? 0 : rate_.count - starts_.size();
}

void RateWindow::Record(int64_t now_us) {
  if (!rate_.enabled()) return;
  starts_.push_back(now_us);
  while (starts_.size() > rate_.count) starts_.pop_front();
}

int64_t RateWindow::WaitUs(int64_t now_us) {
  if (Available(now_us) > 0) return 0;
  int64_t period = int64_t{rate_.period_seconds} * 1000000;
  return starts_.front() + period - now_us;
}

}  // namespace mailrelay::qmgr
