#include "deliver-graph/key_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/proc/privileges.h"
#include "common/util/file.h"

namespace mailrelay::graph {

namespace {

util::Status ChownToDeliver(const std::string& path) {
  MR_ASSIGN_OR_RETURN(proc::Account acct, proc::LookupUser(proc::kDeliverUser));
  if (::chown(path.c_str(), acct.uid, acct.gid) != 0)
    return util::ErrnoStatus("chown " + path, errno);
  return util::Status::Ok();
}

}  // namespace

util::Result<KeyPairState> LoadOrCreateKeyPair(const std::string& dir, bool create,
                                               bool chown_to_deliver) {
  const std::string name = auth::kPassthroughKeyName;
  const std::string key_path = dir + "/" + name + ".key";
  KeyPairState state;
  if (util::FileExists(key_path)) {
    auto keys = auth::LoadBoxKeyPair(dir, name);
    if (!keys.ok()) {
      return util::FailedPrecondition(
          "the passthrough key pair in " + dir + " is unusable (" + keys.status().message() +
          "); restore it from a backup. A new pair would make every queued passthrough message "
          "undeliverable: only if none is queued, remove " +
          key_path + " and " + dir + "/" + name + ".pub to start over");
    }
    state.keys = std::move(keys).value();
    return state;
  }
  if (!create) return state;
  const bool dir_existed = util::FileExists(dir);
  MR_RETURN_IF_ERROR(util::MakeDirs(dir, 0700));
  if (!dir_existed) {
    ::chmod(dir.c_str(), 0700);  // whatever the umask took away, nothing more
    if (chown_to_deliver) MR_RETURN_IF_ERROR(ChownToDeliver(dir));
  }
  auto keys = auth::CreateBoxKeyFiles(dir, name);
  if (!keys.ok()) return keys.status().WithContext("cannot create the passthrough key pair: ");
  if (chown_to_deliver) {
    MR_RETURN_IF_ERROR(ChownToDeliver(dir + "/" + name + ".pub"));
    MR_RETURN_IF_ERROR(ChownToDeliver(key_path));
  }
  state.keys = std::move(keys).value();
  state.created = true;
  return state;
}

}  // namespace mailrelay::graph
