// Snapshot documents; part of manifests_test.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/base/clock.h"
#include "manifests/snapshot.h"

namespace rw {
namespace {

Snapshot Full() {
  Snapshot s;
  s.time_ns = 1795602667123456789;
  s.hostname = "mail1.example.com";
  s.username = "root";
  s.tool_version = "0.1.0";
  s.source = "/opt/icewarp";
  s.excludes = {"/mail/", "/logs/", "*.tmp"};
  s.tags = {"pre-epos", "manual"};
  s.parent = std::string(64, 'e');
  s.tree = BlobId::FromHex(std::string(64, 'f')).value();
  s.incomplete = true;
  s.stats = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5};
  return s;
}

TEST(Snapshot, RoundTripsAllFields) {
  Snapshot s = Full();
  std::string doc = EncodeSnapshot(s);
  Result<Snapshot> back = DecodeSnapshot(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_NE(doc.find(R"("time":"2026-11-25T10:31:07.123456789Z")"), std::string::npos) << doc;

  Snapshot bare;  // databases only: no tree, no parent
  back = DecodeSnapshot(EncodeSnapshot(bare));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, bare);
  EXPECT_EQ(EncodeSnapshot(bare).find("\"tree\""), std::string::npos);
  EXPECT_EQ(EncodeSnapshot(bare).find("\"parent\""), std::string::npos);
}

TEST(Snapshot, NonUtf8SourceTagsAndRulesRoundTrip) {
  Snapshot s = Full();
  s.source = "/srv/caf\xe9";
  s.excludes = {"/mail/", "lat\xe9*"};
  s.tags = {"\xff"};
  s.hostname = "line\nbreak";
  std::string doc = EncodeSnapshot(s);
  EXPECT_NE(doc.find(R"("source_hex":"2f7372762f636166e9")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("excludes_hex":["2f6d61696c2f","6c6174e92a"])"), std::string::npos)
      << doc;
  EXPECT_NE(doc.find(R"("tags_hex":["ff"])"), std::string::npos) << doc;
  Result<Snapshot> back = DecodeSnapshot(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST(Snapshot, TimeNsIsAuthoritative) {
  Snapshot s = Full();
  s.time_ns = -1;  // before the epoch still encodes
  std::string doc = EncodeSnapshot(s);
  EXPECT_NE(doc.find(FormatRfc3339Ns(-1)), std::string::npos) << doc;
  size_t at = doc.find(R"("time":")");
  ASSERT_NE(at, std::string::npos);
  doc.replace(at, doc.find('"', at + 8) - at + 1, R"("time":"not a time")");
  Result<Snapshot> back = DecodeSnapshot(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->time_ns, -1);
}

TEST(Snapshot, NonFiniteDurationBecomesZero) {
  Snapshot s = Full();
  s.stats.duration_s = std::numeric_limits<double>::quiet_NaN();
  Result<Snapshot> back = DecodeSnapshot(EncodeSnapshot(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->stats.duration_s, 0.0);
}

TEST(Snapshot, ReadersIgnoreUnknownKeysAndDefaultMissingOnes) {
  Result<Snapshot> s = DecodeSnapshot(
      R"({"future_key":{"tree":"x"},"hostname":"h","time_ns":5,"version":1,"stats":{"new":1}})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->time_ns, 5);
  EXPECT_EQ(s->hostname, "h");
  EXPECT_TRUE(s->tags.empty());
  EXPECT_FALSE(s->tree.has_value());
}

TEST(Snapshot, CorruptionIsReported) {
  const std::string id(64, 'a');
  struct Case {
    std::string doc;
    std::string message;
  } cases[] = {
      {"", "snapshot: not JSON: "},
      {"[1]", "snapshot: not a JSON object"},
      {R"({"time_ns":1})", "snapshot: missing \"version\""},
      {R"({"version":"1","time_ns":1})", "snapshot: \"version\" is not an integer"},
      {R"({"version":1})", "snapshot: missing \"time_ns\""},
      {R"({"version":1,"time_ns":1.5})", "snapshot: \"time_ns\" is not an integer"},
      {R"({"version":1,"time_ns":1,"hostname":3})", "snapshot: \"hostname\" is not a string"},
      {R"({"version":1,"time_ns":1,"source_hex":"2"})", "\"source_hex\" is not lowercase hex"},
      {R"({"version":1,"time_ns":1,"source":"a","source_hex":"61"})", "both \"source\""},
      {R"({"version":1,"time_ns":1,"tags":"x"})", "snapshot: \"tags\" is not an array"},
      {R"({"version":1,"time_ns":1,"tags":[1]})", "snapshot: \"tags\" holds a non-string"},
      {R"({"version":1,"time_ns":1,"excludes_hex":["zz"]})", "\"excludes_hex\" holds a string"},
      {R"({"version":1,"time_ns":1,"parent":"abc"})", "snapshot: \"parent\" is not a snapshot id"},
      {R"({"version":1,"time_ns":1,"parent":")" + std::string(64, 'A') + R"("})",
       "\"parent\" is not a snapshot id"},
      {R"({"version":1,"time_ns":1,"tree":")" + id + R"(0"})", "\"tree\" is not a blob id"},
      {R"({"version":1,"time_ns":1,"incomplete":1})", "\"incomplete\" is not a boolean"},
      {R"({"version":1,"time_ns":1,"stats":[]})", "\"stats\" is not an object"},
      {R"({"version":1,"time_ns":1,"stats":{"files":-1}})",
       "snapshot: stats: \"files\" is not an unsigned integer"},
      {R"({"version":1,"time_ns":1,"stats":{"duration_s":"1s"}})",
       "stats: \"duration_s\" is not a number"},
  };
  for (const Case& c : cases) {
    Result<Snapshot> s = DecodeSnapshot(c.doc);
    ASSERT_FALSE(s.ok()) << c.doc;
    EXPECT_EQ(s.status().code(), Code::kCorruption) << c.doc;
    EXPECT_NE(s.status().message().find(c.message), std::string::npos)
        << "doc: " << c.doc << "\nmessage: " << s.status().message();
  }
  Result<Snapshot> newer = DecodeSnapshot(R"({"version":2,"time_ns":1})");
  EXPECT_EQ(newer.status().code(), Code::kNotSupported) << newer.status().ToString();
}

// Pins the format: a snapshot's id is the SHA-256 of these bytes.
TEST(Snapshot, GoldenEncoding) {
  const std::string golden =
      R"({"excludes":["/mail/","/logs/","*.tmp"],"hostname":"mail1.example.com",)"
      R"("incomplete":true,"parent":")" + std::string(64, 'e') + R"(","source":"/opt/icewarp",)"
      R"("stats":{"blobs_added":7,"bytes_added":8,"bytes_read":5,"bytes_total":6,)"
      R"("changed_during_read":10,"dirs":2,"duration_s":12.5,"errors":9,"excluded":11,)"
      R"("files":1,"others":4,"symlinks":3},"tags":["pre-epos","manual"],)"
      R"("time":"2026-11-25T10:31:07.123456789Z","time_ns":1795602667123456789,)"
      R"("tool_version":"0.1.0","tree":")" + std::string(64, 'f') + R"(","username":"root",)"
      R"("version":1})";
  const std::string doc = EncodeSnapshot(Full());
  EXPECT_EQ(doc, golden);
  // Computed with sha256sum(1) on the bytes above.
  EXPECT_EQ(Sha256(doc).Hex(), "22d3bf56fd39432e7304189c0c713b5d2e96870ea3233fe7ce5dcb8a0a591ffb");
}

}  // namespace
}  // namespace rw

namespace rw {
namespace {

TEST(Snapshot, DatabasesRoundTripAndAreOptional) {
  Snapshot s = Full();
  DatabaseDump d;
  d.label = "default";
  d.tree = BlobId::FromHex(std::string(64, 'a')).value();
  d.server_version = "10.11.19-MariaDB-0+deb12u1";
  d.binlog_file = "mysql-bin.000003";
  d.binlog_position = 1234;
  d.gtid = "0-1-42";
  d.max_statement_bytes = 21 << 20;
  d.databases = {"icewarp", "caldav", std::string("l\xe9gacy", 7)};  // not UTF-8: hex
  s.databases.push_back(d);
  d.label = "yoda";
  d.databases = {"yoda"};
  d.binlog_file.clear();
  d.max_statement_bytes = 0;  // not recorded: no key
  s.databases.push_back(d);
  std::string doc = EncodeSnapshot(s);
  Result<Snapshot> back = DecodeSnapshot(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_NE(doc.find("\"databases_hex\""), std::string::npos) << doc;
  EXPECT_NE(doc.find("\"max_statement_bytes\":22020096,"), std::string::npos) << doc;
  EXPECT_EQ(doc.find("\"max_statement_bytes\":0"), std::string::npos) << doc;
  // A snapshot without databases has no key: old documents keep their bytes.
  EXPECT_EQ(EncodeSnapshot(Full()).find("\"databases\""), std::string::npos);
  // Damage is refused.
  std::string bad = doc;
  bad.replace(bad.find("\"label\":\"yoda\""), 14, "\"label\":\"default\"");
  EXPECT_FALSE(DecodeSnapshot(bad).ok());
  std::string no_tree = EncodeSnapshot(s);
  no_tree.replace(no_tree.find("\"tree\":\"aaaa"), 7, "\"tre_\":");
  EXPECT_FALSE(DecodeSnapshot(no_tree).ok());
}

}  // namespace
}  // namespace rw
