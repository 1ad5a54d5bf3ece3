// Parsing and selection in deliver-ses's credential chain: timestamps, the environment, the
// shared credentials/config files, the ECS/IMDS JSON, STS's XML, and the chain's order.
// Pure: no network (providers_http_test.cc drives the HTTP sources against the fakes).
#include <sys/stat.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "deliver-ses/credentials/chain.h"
#include "deliver-ses/credentials/container_provider.h"
#include "deliver-ses/credentials/environment_provider.h"
#include "deliver-ses/credentials/imds_provider.h"
#include "deliver-ses/credentials/profile_provider.h"
#include "deliver-ses/credentials/provider.h"
#include "deliver-ses/credentials/static_provider.h"
#include "deliver-ses/credentials/web_identity_provider.h"

namespace mailrelay::ses {
namespace {

// --- timestamps and shapes ---------------------------------------------------------------

TEST(Iso8601, FormsTheServicesUse) {
  EXPECT_EQ(ParseIso8601("2020-11-05T02:02:26Z"), 1604541746);
  EXPECT_EQ(ParseIso8601("2020-11-05T02:02:26.123Z"), 1604541746);
  EXPECT_EQ(ParseIso8601("2020-11-05T03:02:26+01:00"), 1604541746);
  EXPECT_EQ(ParseIso8601("2020-11-04T21:02:26-05:00"), 1604541746);
  EXPECT_EQ(ParseIso8601(" 2024-01-15T12:00:00Z\n"), 1705320000);
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z"), 0);
}

TEST(Iso8601, RefusesWhatIsNotOne) {
  for (const char* bad :
       {"", "2020-11-05", "2020-11-05T02:02:26", "2020-13-05T02:02:26Z", "2020-11-05T25:02:26Z",
        "2020-11-05T02:02:26Zjunk", "2020-11-05T02:02:26.Z", "20201105T020226Z",
        "2020-11-05T02:02:26+0100", "yesterday"}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(Keys, Validation) {
  EXPECT_TRUE(ValidateKeys({"AKIAEXAMPLE", "secret/with+chars=", ""}).ok());
  EXPECT_TRUE(ValidateKeys({"ASIAEXAMPLE", "s", "tok/en+=="}).ok());
  EXPECT_FALSE(ValidateKeys({"", "s", ""}).ok());
  EXPECT_FALSE(ValidateKeys({"AKIA", "", ""}).ok());
  EXPECT_FALSE(ValidateKeys({"AKIA EXAMPLE", "s", ""}).ok());
  EXPECT_FALSE(ValidateKeys({"AKIA", "se cret", ""}).ok());
  util::Status st = ValidateKeys({"AKIA", "s", "s3cr3tT0k\nen"});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message().find("s3cr3tT0k"), std::string::npos);  // never quotes the token
}

// --- environment -------------------------------------------------------------------------

TEST(EnvironmentCredentials, KeysTokenAndExpiry) {
  auto c = CredentialsFromEnvironment(
      MapEnvironment({{"AWS_ACCESS_KEY_ID", "AKIAENV"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIAENV");
  EXPECT_EQ(c->keys.secret_access_key, "envsecret");
  EXPECT_TRUE(c->keys.session_token.empty());
  EXPECT_EQ(c->expires_at_us, 0);

  c = CredentialsFromEnvironment(
      MapEnvironment({{"AWS_ACCESS_KEY_ID", "ASIAENV"},
                      {"AWS_SECRET_ACCESS_KEY", "s"},
                      {"AWS_SESSION_TOKEN", "tok"},
                      {"AWS_CREDENTIAL_EXPIRATION", "2024-01-15T12:00:00Z"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.session_token, "tok");
  EXPECT_EQ(c->expires_at_us, int64_t{1705320000} * 1000000);

  // The legacy name still works; AWS_SESSION_TOKEN wins when both are set.
  c = CredentialsFromEnvironment(MapEnvironment({{"AWS_ACCESS_KEY_ID", "A"},
                                                 {"AWS_SECRET_ACCESS_KEY", "s"},
                                                 {"AWS_SECURITY_TOKEN", "legacy"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.session_token, "legacy");
  c = CredentialsFromEnvironment(MapEnvironment({{"AWS_ACCESS_KEY_ID", "A"},
                                                 {"AWS_SECRET_ACCESS_KEY", "s"},
                                                 {"AWS_SESSION_TOKEN", "new"},
                                                 {"AWS_SECURITY_TOKEN", "legacy"}}));
  EXPECT_EQ(c->keys.session_token, "new");
}

TEST(EnvironmentCredentials, UnsetPartialAndMalformed) {
  EXPECT_EQ(CredentialsFromEnvironment(MapEnvironment({})).status().code(), util::Code::kNotFound);
  // Empty counts as unset, as in the SDKs.
  EXPECT_EQ(CredentialsFromEnvironment(MapEnvironment({{"AWS_ACCESS_KEY_ID", ""}})).status().code(),
            util::Code::kNotFound);
  EXPECT_EQ(
      CredentialsFromEnvironment(MapEnvironment({{"AWS_ACCESS_KEY_ID", "A"}})).status().code(),
      util::Code::kInvalidArgument);
  EXPECT_EQ(
      CredentialsFromEnvironment(MapEnvironment({{"AWS_SECRET_ACCESS_KEY", "s"}})).status().code(),
      util::Code::kInvalidArgument);
  EXPECT_EQ(CredentialsFromEnvironment(MapEnvironment({{"AWS_ACCESS_KEY_ID", "A"},
                                                       {"AWS_SECRET_ACCESS_KEY", "s"},
                                                       {"AWS_CREDENTIAL_EXPIRATION", "soon"}}))
                .status()
                .code(),
            util::Code::kInvalidArgument);
}

// --- shared files ------------------------------------------------------------------------

TEST(AwsIni, SectionsKeysCommentsAndNesting) {
  AwsIni ini = ParseAwsIni(
      "# comment\r\n; another\r\n[default]\r\naws_access_key_id = AKIADEFAULT\r\n"
      "AWS_Secret_Access_Key=sec#ret  ; trailing comment\r\n\r\n[profile  prod ]\n"
      "region = eu-west-1\ns3 =\n  max_concurrent_requests = 20\n  aws_access_key_id = NESTED\n"
      "aws_session_token = a # b\n[broken\nkey = value\n[empty]\n=novalue\nnoequals\n");
  ASSERT_EQ(ini.count("default"), 1u);
  EXPECT_EQ(ini["default"]["aws_access_key_id"], "AKIADEFAULT");
  EXPECT_EQ(ini["default"]["aws_secret_access_key"], "sec#ret");  // '#' inside a value stays
  ASSERT_EQ(ini.count("profile prod"), 1u);
  EXPECT_EQ(ini["profile prod"]["region"], "eu-west-1");
  EXPECT_EQ(ini["profile prod"]["s3"], "");
  EXPECT_EQ(ini["profile prod"].count("aws_access_key_id"), 0u);  // nested under s3
  EXPECT_EQ(ini["profile prod"]["aws_session_token"], "a");
  EXPECT_EQ(ini.count("broken"), 0u);
  EXPECT_TRUE(ini["empty"].empty());
}

ProfileFile File(const std::string& path, const std::string& text, mode_t mode = 0600) {
  ProfileFile f;
  f.path = path;
  f.text = text;
  f.mode = S_IFREG | mode;
  return f;
}

ProfileLocation Where(const std::string& profile = "default", bool is_explicit = false) {
  ProfileLocation w;
  w.credentials_file = "/h/.aws/credentials";
  w.config_file = "/h/.aws/config";
  w.profile = profile;
  w.profile_explicit = is_explicit;
  return w;
}

TEST(ProfileCredentials, CredentialsFileFirstThenConfigFile) {
  auto creds = File("/h/.aws/credentials",
                    "[default]\naws_access_key_id=AKIACRED\naws_secret_access_key=c\n");
  auto config = File(
      "/h/.aws/config",
      "[default]\naws_access_key_id=AKIACONF\naws_secret_access_key=f\n"
      "[profile prod]\naws_access_key_id=AKIAPROD\naws_secret_access_key=p\naws_session_token=t\n"
      "[prod]\naws_access_key_id=AKIANOTPROFILE\naws_secret_access_key=x\n");
  auto c = CredentialsFromProfile(Where(), creds, config);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIACRED");
  EXPECT_EQ(c->source, "profile default in /h/.aws/credentials");
  c = CredentialsFromProfile(Where(), std::nullopt, config);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.access_key_id, "AKIACONF");
  // In the config file a named profile is "[profile NAME]"; "[NAME]" there is not it.
  c = CredentialsFromProfile(Where("prod", true), creds, config);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "AKIAPROD");
  EXPECT_EQ(c->keys.session_token, "t");
  EXPECT_EQ(c->expires_at_us, 0);
  // "[profile default]" also names the default profile.
  c = CredentialsFromProfile(
      Where(), std::nullopt,
      File("/c", "[profile default]\naws_access_key_id=AKIAPD\naws_secret_access_key=s\n"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.access_key_id, "AKIAPD");
  // A credentials-file profile without keys falls through to the config file.
  c = CredentialsFromProfile(Where("prod", true), File("/h/.aws/credentials", "[prod]\nregion=x\n"),
                             config);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.access_key_id, "AKIAPROD");
}

TEST(ProfileCredentials, MissingFilesAndProfiles) {
  EXPECT_EQ(CredentialsFromProfile(Where(), std::nullopt, std::nullopt).status().code(),
            util::Code::kNotFound);
  auto creds =
      File("/h/.aws/credentials", "[other]\naws_access_key_id=A\naws_secret_access_key=s\n");
  // The default profile is optional: the chain goes on.
  EXPECT_EQ(CredentialsFromProfile(Where(), creds, std::nullopt).status().code(),
            util::Code::kNotFound);
  // A profile someone named must exist.
  auto named = CredentialsFromProfile(Where("prod", true), creds, std::nullopt);
  EXPECT_EQ(named.status().code(), util::Code::kInvalidArgument);
  EXPECT_NE(named.status().message().find("profile prod is not in /h/.aws/credentials"),
            std::string::npos);
}

TEST(ProfileCredentials, PartialUnsupportedAndUnsafe) {
  auto partial =
      CredentialsFromProfile(Where(), File("/c", "[default]\naws_access_key_id=A\n"), std::nullopt);
  EXPECT_EQ(partial.status().code(), util::Code::kInvalidArgument);
  auto role = CredentialsFromProfile(
      Where("r", true), std::nullopt,
      File("/c", "[profile r]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=d\n"));
  EXPECT_EQ(role.status().code(), util::Code::kInvalidArgument);
  EXPECT_NE(role.status().message().find("does not support"), std::string::npos);
  auto unsafe = CredentialsFromProfile(
      Where(), File("/c", "[default]\naws_access_key_id=A\naws_secret_access_key=s\n", 0640),
      std::nullopt);
  EXPECT_EQ(unsafe.status().code(), util::Code::kPermissionDenied);
  EXPECT_NE(unsafe.status().message().find("readable by group or others"), std::string::npos);
  EXPECT_EQ(unsafe.status().message().find("=s"), std::string::npos);
  // A world-readable config file is fine when the keys do not come from it.
  auto ok = CredentialsFromProfile(
      Where(), File("/c", "[default]\naws_access_key_id=A\naws_secret_access_key=s\n"),
      File("/f", "[default]\nregion=eu-west-1\n", 0644));
  EXPECT_TRUE(ok.ok());
}

TEST(ProfileCredentials, LocationFromTheEnvironment) {
  ProfileLocation w = LocateProfileFiles(MapEnvironment({{"HOME", "/home/relay"}}));
  EXPECT_EQ(w.credentials_file, "/home/relay/.aws/credentials");
  EXPECT_EQ(w.config_file, "/home/relay/.aws/config");
  EXPECT_EQ(w.profile, "default");
  EXPECT_FALSE(w.profile_explicit);
  EXPECT_FALSE(w.credentials_named);
  w = LocateProfileFiles(MapEnvironment({{"HOME", "/home/relay"},
                                         {"AWS_SHARED_CREDENTIALS_FILE", "~/creds"},
                                         {"AWS_CONFIG_FILE", "/etc/aws/config"},
                                         {"AWS_DEFAULT_PROFILE", "legacy"}}));
  EXPECT_EQ(w.credentials_file, "/home/relay/creds");
  EXPECT_EQ(w.config_file, "/etc/aws/config");
  EXPECT_TRUE(w.credentials_named);
  EXPECT_TRUE(w.config_named);
  EXPECT_EQ(w.profile, "legacy");
  w = LocateProfileFiles(
      MapEnvironment({{"AWS_PROFILE", "prod"}, {"AWS_DEFAULT_PROFILE", "legacy"}}));
  EXPECT_EQ(w.profile, "prod");
  EXPECT_TRUE(w.profile_explicit);
}

// --- container and IMDS JSON -------------------------------------------------------------

TEST(CredentialsJson, EcsAndImdsAnswers) {
  auto c = ParseCredentialsJson(
      R"({"Code":"Success","LastUpdated":"2020-11-05T01:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",)"
      R"("SecretAccessKey":"sec","Token":"tok","Expiration":"2020-11-05T02:02:26Z"})",
      "EC2 instance metadata (role r)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "ASIAIMDS");
  EXPECT_EQ(c->keys.session_token, "tok");
  EXPECT_EQ(c->expires_at_us, int64_t{1604541746} * 1000000);
  EXPECT_EQ(c->source, "EC2 instance metadata (role r)");

  c = ParseCredentialsJson(
      R"({"RoleArn":"arn:aws:iam::1:role/t","AccessKeyId":"ASIAECS","SecretAccessKey":"s",)"
      R"("Token":"t","Expiration":"2030-01-01T00:00:00Z"})",
      "ecs");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->keys.access_key_id, "ASIAECS");
}

TEST(CredentialsJson, Failures) {
  EXPECT_FALSE(ParseCredentialsJson("not json", "x").ok());
  EXPECT_FALSE(ParseCredentialsJson("[]", "x").ok());
  auto failed =
      ParseCredentialsJson(R"({"Code":"AssumeRoleUnauthorizedAccess","Message":"no"})", "x");
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("AssumeRoleUnauthorizedAccess"), std::string::npos);
  EXPECT_FALSE(ParseCredentialsJson(
                   R"({"AccessKeyId":"A","Token":"t","Expiration":"2030-01-01T00:00:00Z"})", "x")
                   .ok());
  EXPECT_FALSE(
      ParseCredentialsJson(
          R"({"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"later"})", "x")
          .ok());
  // Temporary keys without an expiry are refused rather than trusted forever.
  EXPECT_FALSE(
      ParseCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"s","Token":"t"})", "x").ok());
  // So are keys "expiring" at the epoch: expires_at_us 0 means long-term keys.
  EXPECT_FALSE(ParseCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"s","Token":"t",)"
                                    R"("Expiration":"1970-01-01T00:00:00Z"})",
                                    "x")
                   .ok());
}

TEST(ContainerRequest, RelativeFullAndTokens) {
  auto r = ContainerRequestFromEnvironment(
      MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://169.254.170.2/v2/credentials/x");
  EXPECT_EQ(r->authorization, "");
  r = ContainerRequestFromEnvironment(
      MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/c"},
                      {"MAILRELAY_AWS_CONTAINER_ENDPOINT", "http://127.0.0.1:8080/"},
                      {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/ignored"},
                      {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://127.0.0.1:8080/c");  // the relative URI wins, as in the SDKs
  EXPECT_EQ(r->authorization, "tok");
  for (const char* ok :
       {"http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
        "http://localhost:9/x", "https://creds.example.com/x"}) {
    EXPECT_TRUE(ContainerRequestFromEnvironment(
                    MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ok}}))
                    .ok())
        << ok;
  }
  EXPECT_EQ(ContainerRequestFromEnvironment(
                MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example/x"}}))
                .status()
                .code(),
            util::Code::kInvalidArgument);
  EXPECT_EQ(ContainerRequestFromEnvironment(
                MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "no-slash"}}))
                .status()
                .code(),
            util::Code::kInvalidArgument);
  EXPECT_EQ(ContainerRequestFromEnvironment(MapEnvironment({})).status().code(),
            util::Code::kNotFound);
  // A token file that is named must exist: that is a configured source failing, not absent.
  auto missing = ContainerRequestFromEnvironment(
      MapEnvironment({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/c"},
                      {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent/t"}}));
  EXPECT_EQ(missing.status().code(), util::Code::kUnavailable);
}

TEST(ContainerResponse, ErrorsKeepTheEndpointsWords) {
  http::Response denied;
  denied.status = 401;
  denied.body =
      R"({"code":"AccessDeniedException","message":"Authorization token is missing or invalid"})";
  auto r = ParseContainerResponse(denied, "http://169.254.170.2/v2/credentials/x");
  EXPECT_EQ(r.status().code(), util::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("401 AccessDeniedException: Authorization token is missing"),
            std::string::npos);
  http::Response down;
  down.status = 503;
  EXPECT_EQ(ParseContainerResponse(down, "http://x/").status().code(), util::Code::kUnavailable);
  http::Response lost;
  lost.error = http::TransportError::kConnectionRefused;
  lost.error_message = "refused";
  EXPECT_EQ(ParseContainerResponse(lost, "http://x/").status().code(), util::Code::kUnavailable);
}

TEST(Imds, EndpointAndRoleListing) {
  EXPECT_EQ(*ImdsEndpoint(MapEnvironment({})), "http://169.254.169.254");
  EXPECT_EQ(*ImdsEndpoint(MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"}})),
            "http://[fd00:ec2::254]");
  EXPECT_EQ(*ImdsEndpoint(
                MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1234/"}})),
            "http://127.0.0.1:1234");
  EXPECT_EQ(ImdsEndpoint(MapEnvironment({{"AWS_EC2_METADATA_DISABLED", "TRUE"}})).status().code(),
            util::Code::kNotFound);
  EXPECT_TRUE(ImdsEndpoint(MapEnvironment({{"AWS_EC2_METADATA_DISABLED", "false"}})).ok());
  EXPECT_FALSE(
      ImdsEndpoint(MapEnvironment({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "ftp://x"}})).ok());
  EXPECT_EQ(ImdsRoleFromListing("web-role\n"), "web-role");
  EXPECT_EQ(ImdsRoleFromListing("\n  first\nsecond\n"), "first");
  EXPECT_EQ(ImdsRoleFromListing(""), "");
}

// --- STS ---------------------------------------------------------------------------------

constexpr char kStsOk[] =
    R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&amp;x</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

TEST(Sts, ParsesTheDocumentedAnswer) {
  http::Response r;
  r.status = 200;
  r.body = kStsOk;
  auto c = ParseAssumeRoleWithWebIdentityResponse(
      r, "arn:aws:iam::123456789012:role/FederatedWebIdentityRole");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->keys.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(c->keys.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(c->keys.session_token,
            "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&x");  // entity decoded
  EXPECT_EQ(c->expires_at_us, int64_t{1414191623} * 1000000);
}

TEST(Sts, ErrorsAndTheirKinds) {
  http::Response r;
  r.status = 400;
  r.body =
      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
      "<Message>Couldn&apos;t retrieve verification key</Message></Error></ErrorResponse>";
  auto c = ParseAssumeRoleWithWebIdentityResponse(r, "arn:x");
  EXPECT_EQ(c.status().code(), util::Code::kPermissionDenied);
  EXPECT_NE(
      c.status().message().find("400 InvalidIdentityToken: Couldn't retrieve verification key"),
      std::string::npos);
  r.body =
      "<ErrorResponse><Error><Code>IDPCommunicationError</Code><Message>m</Message></Error></"
      "ErrorResponse>";
  EXPECT_EQ(ParseAssumeRoleWithWebIdentityResponse(r, "arn:x").status().code(),
            util::Code::kUnavailable);
  r.status = 503;
  r.body = "";
  EXPECT_EQ(ParseAssumeRoleWithWebIdentityResponse(r, "arn:x").status().code(),
            util::Code::kUnavailable);
  r.status = 200;
  r.body = "<AssumeRoleWithWebIdentityResponse/>";
  EXPECT_EQ(ParseAssumeRoleWithWebIdentityResponse(r, "arn:x").status().code(),
            util::Code::kUnavailable);
  // Expiring at the epoch would read as long-term keys (expires_at_us 0).
  r.body = kStsOk;
  r.body.replace(r.body.find("2014-10-24T23:00:23Z"), 20, "1970-01-01T00:00:00Z");
  EXPECT_EQ(ParseAssumeRoleWithWebIdentityResponse(r, "arn:x").status().code(),
            util::Code::kUnavailable);
}

TEST(Sts, RequestBodyAndEndpoint) {
  EXPECT_EQ(AssumeRoleWithWebIdentityBody("arn:aws:iam::1:role/r", "mailrelay-1", "a.b+c/d="),
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%"
            "3Arole%2Fr"
            "&RoleSessionName=mailrelay-1&WebIdentityToken=a.b%2Bc%2Fd%3D");
  EXPECT_EQ(StsEndpoint(MapEnvironment({}), "eu-west-1"), "https://sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(StsEndpoint(MapEnvironment({{"AWS_ENDPOINT_URL", "https://all"}}), "x"), "https://all");
  EXPECT_EQ(StsEndpoint(MapEnvironment({{"AWS_ENDPOINT_URL", "https://all"},
                                        {"AWS_ENDPOINT_URL_STS", "https://sts"}}),
                        "x"),
            "https://sts");
  EXPECT_EQ(XmlElementText("<a><b x=\"1\">v&lt;1&#62;</b></a>", "b"), "v<1>");
  EXPECT_EQ(XmlElementText("<bb>no</bb><b/>", "b"), "");
  EXPECT_FALSE(XmlElementText("<a>", "b").has_value());
}

// --- the chain ---------------------------------------------------------------------------

class Scripted : public CredentialProvider {
 public:
  Scripted(std::string name, util::Result<AwsCredentials> answer, int* calls)
      : answer_(std::move(answer)), name_(std::move(name)), calls_(calls) {}
  std::string Name() const override { return name_; }
  void Fetch(CredentialsCallback done) override {
    ++*calls_;
    done(answer_);
  }
  util::Result<AwsCredentials> answer_;

 private:
  std::string name_;
  int* calls_;
};

AwsCredentials Keys(const std::string& id) {
  AwsCredentials c;
  c.keys = {id, "secret", ""};
  c.source = id;
  return c;
}

util::Result<AwsCredentials> FetchNow(CredentialProvider& p) {
  std::optional<util::Result<AwsCredentials>> out;
  p.Fetch([&](util::Result<AwsCredentials> r) { out = std::move(r); });
  EXPECT_TRUE(out.has_value()) << "synchronous sources answer at once";
  return out ? *out : util::Result<AwsCredentials>(util::Internal("no answer"));
}

TEST(Chain, FirstConfiguredSourceWinsAndIsKept) {
  int calls[3] = {0, 0, 0};
  std::vector<std::unique_ptr<CredentialProvider>> p;
  p.push_back(std::make_unique<Scripted>("a", util::NotFound("a not set"), &calls[0]));
  auto b = std::make_unique<Scripted>("b", Keys("B"), &calls[1]);
  Scripted* b_ptr = b.get();
  p.push_back(std::move(b));
  p.push_back(std::make_unique<Scripted>("c", Keys("C"), &calls[2]));
  CredentialChain chain(std::move(p));
  auto r = FetchNow(chain);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys.access_key_id, "B");
  EXPECT_EQ(chain.pinned(), "b");
  r = FetchNow(chain);
  EXPECT_EQ(r->keys.access_key_id, "B");
  EXPECT_EQ(calls[0], 1);  // pinned: "a" is not asked again
  EXPECT_EQ(calls[1], 2);
  EXPECT_EQ(calls[2], 0);
  // A pinned source that fails keeps its error (no silent switch to other keys)...
  b_ptr->answer_ = util::Unavailable("b is down");
  EXPECT_EQ(FetchNow(chain).status().code(), util::Code::kUnavailable);
  EXPECT_EQ(calls[2], 0);
  // ...but one that is gone makes the chain resolve again.
  b_ptr->answer_ = util::NotFound("b unset");
  r = FetchNow(chain);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys.access_key_id, "C");
  EXPECT_EQ(chain.pinned(), "c");
}

TEST(Chain, AConfiguredSourceThatFailsStopsTheChain) {
  int calls[2] = {0, 0};
  std::vector<std::unique_ptr<CredentialProvider>> p;
  p.push_back(std::make_unique<Scripted>("a", util::InvalidArgument("half configured"), &calls[0]));
  p.push_back(std::make_unique<Scripted>("b", Keys("B"), &calls[1]));
  CredentialChain chain(std::move(p));
  auto r = FetchNow(chain);
  EXPECT_EQ(r.status().code(), util::Code::kInvalidArgument);
  EXPECT_EQ(calls[1], 0);
}

TEST(Chain, NothingConfiguredSaysWhyForEachSource) {
  int calls = 0;
  std::vector<std::unique_ptr<CredentialProvider>> p;
  p.push_back(
      std::make_unique<Scripted>("env", util::NotFound("AWS_ACCESS_KEY_ID is not set"), &calls));
  p.push_back(std::make_unique<Scripted>("imds", util::NotFound("disabled"), &calls));
  CredentialChain chain(std::move(p));
  auto r = FetchNow(chain);
  EXPECT_EQ(r.status().code(), util::Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            "no AWS credentials found (env: AWS_ACCESS_KEY_ID is not set; imds: disabled)");
}

TEST(Chain, DefaultOrderStaticEnvironmentFiles) {
  // Only the synchronous sources answer here; IMDS is disabled so nothing goes to the network.
  http::HttpClient* no_client = nullptr;
  auto env = MapEnvironment({{"AWS_ACCESS_KEY_ID", "AKIAENV"},
                             {"AWS_SECRET_ACCESS_KEY", "e"},
                             {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
                             {"AWS_CONFIG_FILE", "/nonexistent/config"},
                             {"AWS_EC2_METADATA_DISABLED", "true"}});
  ChainOptions with_static;
  with_static.static_keys = Credentials{"AKIASTATIC", "s", ""};
  auto chain = MakeDefaultChain(no_client, env, with_static);
  auto r = FetchNow(*chain);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys.access_key_id, "AKIASTATIC");
  chain = MakeDefaultChain(no_client, env, ChainOptions{});
  r = FetchNow(*chain);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys.access_key_id, "AKIAENV");
  auto bare =
      MakeDefaultChain(no_client,
                       MapEnvironment({{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
                                       {"AWS_CONFIG_FILE", "/nonexistent/config"},
                                       {"AWS_EC2_METADATA_DISABLED", "true"}}),
                       ChainOptions{});
  r = FetchNow(*bare);
  EXPECT_EQ(r.status().code(), util::Code::kNotFound);
  for (const char* part :
       {"environment", "shared credentials/config files", "web identity", "container credentials",
        "EC2 instance metadata", "AWS_EC2_METADATA_DISABLED is true"}) {
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << part << " in " << r.status().message();
  }
}

TEST(StaticKeys, MalformedKeysAreRefused) {
  StaticProvider bad(Credentials{"AKIA BAD", "s", ""});
  EXPECT_EQ(FetchNow(bad).status().code(), util::Code::kInvalidArgument);
  StaticProvider good(Credentials{"AKIAGOOD", "s", ""});
  auto r = FetchNow(good);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->expires_at_us, 0);
}

}  // namespace
}  // namespace mailrelay::ses
