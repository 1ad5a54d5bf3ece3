#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "common/net/address.h"
#include "common/net/listener.h"
#include "common/proc/child.h"
#include "common/proc/privileges.h"

namespace mailrelay {
namespace {

TEST(Endpoint, FormatsAndClassifiesAddresses) {
  auto v4 = net::Resolve({"192.0.2.7", 25});
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "[192.0.2.7]:25");
  EXPECT_FALSE(v4->IsLoopback());
  auto lo = net::Resolve({"127.0.0.1", 1});
  EXPECT_TRUE(lo->IsLoopback());
  auto mapped = net::Resolve({"::ffff:127.0.0.5", 2525});
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->Ip(), "127.0.0.5");  // IPv4-mapped shown (and keyed) as IPv4
  EXPECT_TRUE(mapped->IsLoopback());
  auto v6 = net::Resolve({"2001:db8::1", 587});
  EXPECT_EQ(v6->ToString(), "[2001:db8::1]:587");
  EXPECT_FALSE(net::Resolve({"not an address", 25}).ok());
}

TEST(Listener, BindsEphemeralPortsAndRefusesBusyOnes) {
  auto l = net::BindTcp({"127.0.0.1", 0});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_NE(l->address, "[127.0.0.1]:0");
  auto local = net::LocalOf(l->fd);
  ASSERT_TRUE(local.ok());
  auto again = net::BindTcp({"127.0.0.1", local->Port()});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
  close(l->fd);
  auto v6 = net::BindTcp({"::1", 0});
  if (v6.ok()) close(v6->fd);  // hosts without IPv6 loopback skip this half
}

TEST(Proc, UsersPerProgram) {
  EXPECT_STREQ(proc::UserFor("smtpd"), "mailrelay-smtpd");
  EXPECT_STREQ(proc::UserFor("qmgr"), "mailrelay");
  EXPECT_STREQ(proc::UserFor("deliver-azure"), "mailrelay-deliver");
  EXPECT_FALSE(proc::LookupUser("no-such-user-mailrelay-test").ok());
}

TEST(Proc, InheritedFdsFromTheEnvironment) {
  setenv("MAILRELAY_FDS", "4:plain:127.0.0.1:25,5:tls:[::]:465,junk", 1);
  auto fds = proc::InheritedFds();
  ASSERT_EQ(fds.size(), 2u);
  EXPECT_EQ(fds[0].fd, 4);
  EXPECT_EQ(fds[0].kind, "plain");
  EXPECT_EQ(fds[0].address, "127.0.0.1:25");
  EXPECT_EQ(fds[1].address, "[::]:465");
  unsetenv("MAILRELAY_FDS");
  EXPECT_TRUE(proc::InheritedFds().empty());
}

}  // namespace
}  // namespace mailrelay
