#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "manifests/json_internal.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw {

// gtest prints entries as their encoding.
void PrintTo(const TreeEntry& e, std::ostream* os) {
  Tree t;
  t.entries = {e};
  *os << EncodeTree(t);
}

namespace {

BlobId Id(char fill) {
  Result<BlobId> id = BlobId::FromHex(std::string(64, fill));
  EXPECT_TRUE(id.ok());
  return *id;
}

// One entry of every type, every field that applies to it set to a non-default value.
Tree EveryType() {
  Tree t;
  TreeEntry base;
  base.mode = 0640;
  base.uid = 1000;
  base.gid = 4294967295u;
  base.user = "icewarp";
  base.group = "mail";
  base.mtime_ns = -1;  // before the epoch
  base.ctime_ns = 1795602667123456789;
  base.inode = UINT64_MAX;
  base.device = 2049;
  base.nlink = 3;
  base.xattrs = {{"system.posix_acl_access", std::string("\x02\x00\x00\x00\x01\x00\x06\x00", 8)},
                 {"user.comment", "hello"}};

  TreeEntry file = base;
  file.name = "a-file";
  file.type = EntryType::kFile;
  file.size = 3 << 20;
  file.content = {Id('1'), Id('2'), Id('1')};
  file.xxh128 = Xxh128{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  TreeEntry dir = base;
  dir.name = "b-dir";
  dir.type = EntryType::kDir;
  dir.subtree = Id('d');
  TreeEntry symlink = base;
  symlink.name = "c-symlink";
  symlink.type = EntryType::kSymlink;
  symlink.link_target = "../a-file";
  symlink.size = 9;
  TreeEntry hardlink = base;
  hardlink.name = "d-hardlink";
  hardlink.type = EntryType::kHardlink;
  hardlink.link_target = "config/a-file";
  TreeEntry fifo = base;
  fifo.name = "e-fifo";
  fifo.type = EntryType::kFifo;
  TreeEntry chr = base;
  chr.name = "f-chardev";
  chr.type = EntryType::kCharDevice;
  chr.rdev = (1 << 8) | 3;
  TreeEntry blk = base;
  blk.name = "g-blockdev";
  blk.type = EntryType::kBlockDevice;
  blk.rdev = UINT64_MAX;
  TreeEntry excluded = base;
  excluded.name = "h-excluded";
  excluded.type = EntryType::kExcludedDir;
  t.entries = {file, dir, symlink, hardlink, fifo, chr, blk, excluded};
  return t;
}

TEST(EntryType, NamesRoundTrip) {
  const char* names[] = {"file", "dir",     "symlink",  "hardlink",
                         "fifo", "chardev", "blockdev", "excluded"};
  for (const char* name : names) {
    EntryType t;
    ASSERT_TRUE(ParseEntryType(name, &t)) << name;
    EXPECT_STREQ(EntryTypeName(t), name);
  }
  EntryType t;
  EXPECT_FALSE(ParseEntryType("dirr", &t));
  EXPECT_FALSE(ParseEntryType("", &t));
}

TEST(Tree, RoundTripsEveryTypeWithAllFields) {
  Tree t = EveryType();
  ASSERT_TRUE(ValidateTree(t).ok()) << ValidateTree(t).ToString();
  Result<Tree> back = DecodeTree(EncodeTree(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->entries.size(), t.entries.size());
  for (size_t i = 0; i < t.entries.size(); ++i) EXPECT_EQ(back->entries[i], t.entries[i]) << i;
}

// A decoded tree's entries are allocated once, at their number (plus one per xattr at most):
// grown one by one, a tree of 1,000 entries held room for 1,024, of 1,025 for 2,048.
TEST(Tree, DecodedEntriesAreAllocatedAtTheirNumber) {
  for (size_t n : {1, 2, 5, 100, 1025}) {
    Tree t;
    for (size_t i = 0; i < n; ++i) {
      TreeEntry e;
      e.name = "file" + std::to_string(100000 + i);
      e.size = i;
      e.content = {Id('1')};
      t.entries.push_back(e);
    }
    Result<Tree> back = DecodeTree(EncodeTree(t));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->entries.size(), n);
    EXPECT_EQ(back->entries.capacity(), n);
  }
  Tree every = EveryType();
  size_t xattrs = 0;
  for (const TreeEntry& e : every.entries) xattrs += e.xattrs.size();
  Result<Tree> back = DecodeTree(EncodeTree(every));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_LE(back->entries.capacity(), every.entries.size() + xattrs);
}

TEST(Tree, RoundTripsEmptyTreeAndDefaults) {
  EXPECT_EQ(EncodeTree(Tree{}), R"({"entries":[],"version":1})");
  Tree t;
  t.entries.resize(1);
  t.entries[0].name = "empty";
  std::string doc = EncodeTree(t);
  // Fields at their default are omitted; nlink's default is 1.
  EXPECT_EQ(doc, R"({"entries":[{"name":"empty","type":"file"}],"version":1})");
  Result<Tree> back = DecodeTree(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->entries[0], t.entries[0]);
}

TEST(Tree, NonUtf8AndControlBytesRoundTrip) {
  Tree t;
  for (std::string name : {std::string("\xff\xfe"), std::string("line\nbreak"),
                           std::string("tab\tand \"quote\" \\"), std::string("caf\xc3\xa9"),
                           std::string("lat\xe9"), std::string("\xed\xa0\x80")}) {  // surrogate
    TreeEntry e;
    e.name = name;
    e.type = EntryType::kSymlink;
    e.link_target = "to-" + name;
    e.user = "\xc0";
    // In byte order ("t" < "\xff"): the decoder returns them sorted.
    e.xattrs = {{"user.text", "caf\xc3\xa9"}, {"user.\xff", std::string("\0\x01\xff", 3)}};
    t.entries.push_back(e);
  }
  std::string doc = EncodeTree(t);
  EXPECT_NE(doc.find(R"("name_hex":"fffe")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("name":"line\nbreak")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("name":"café")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("target_hex":"746f2dfffe")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("user_hex":"c0")"), std::string::npos) << doc;
  EXPECT_NE(doc.find(R"("value_hex":"0001ff")"), std::string::npos) << doc;
  Result<Tree> back = DecodeTree(doc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::sort(t.entries.begin(), t.entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
  ASSERT_EQ(back->entries.size(), t.entries.size());
  for (size_t i = 0; i < t.entries.size(); ++i) EXPECT_EQ(back->entries[i], t.entries[i]) << i;
}

TEST(Tree, EncodingIsCanonical) {
  Tree t = EveryType();
  const std::string doc = EncodeTree(t);
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    Tree shuffled = t;
    std::shuffle(shuffled.entries.begin(), shuffled.entries.end(), rng);
    for (TreeEntry& e : shuffled.entries) std::shuffle(e.xattrs.begin(), e.xattrs.end(), rng);
    EXPECT_EQ(EncodeTree(shuffled), doc);
  }
  // Sorting is by unsigned bytes: "\xff" after "z", "B" before "a".
  Tree bytes;
  for (const char* n : {"z", "\xff", "a", "B"}) {
    bytes.entries.emplace_back();
    bytes.entries.back().name = n;
  }
  Result<Tree> back = DecodeTree(EncodeTree(bytes));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->entries[0].name, "B");
  EXPECT_EQ(back->entries[3].name, "\xff");
  EXPECT_EQ(EncodeTree(*DecodeTree(doc)), doc);
}

// SortTree puts a tree in the order DecodeTree returns (a backup caches the trees it writes
// in that form): after it, the tree equals its own encoding decoded, whatever order it was in.
TEST(Tree, SortTreeGivesTheDecodedForm) {
  Tree t = EveryType();
  for (const char* n : {"\xff", "B", "caf\xc3\xa9", "a"}) {
    TreeEntry e;
    e.name = n;
    e.xattrs = {{"user.\xff", "1"}, {"user.a", "2"}, {"security.selinux", "3"}};
    t.entries.push_back(e);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    Tree shuffled = t;
    std::shuffle(shuffled.entries.begin(), shuffled.entries.end(), rng);
    for (TreeEntry& e : shuffled.entries) std::shuffle(e.xattrs.begin(), e.xattrs.end(), rng);
    Result<Tree> decoded = DecodeTree(EncodeTree(shuffled));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    SortTree(&shuffled);
    EXPECT_TRUE(shuffled.entries == decoded->entries) << "shuffle " << i;
  }
}

// Pins the format: if this test fails, trees written by older builds no longer dedup with
// new ones (and docs/format.md must say why the format changed).
TEST(Tree, GoldenEncoding) {
  Tree t;
  TreeEntry config;
  config.name = "config";
  config.type = EntryType::kDir;
  config.mode = 0755;
  config.user = "root";
  config.group = "root";
  config.mtime_ns = 1795602667123456789;
  config.subtree = Id('c');
  TreeEntry mail;
  mail.name = "mail";
  mail.type = EntryType::kExcludedDir;
  mail.mode = 0700;
  mail.uid = 996;
  mail.gid = 994;
  TreeEntry script;
  script.name = "icewarpd.sh";
  script.type = EntryType::kFile;
  script.mode = 0755;
  script.size = 1048577;
  script.content = {Id('a'), Id('b')};
  script.xxh128 = Xxh128{0x0011223344556677ULL, 0x8899aabbccddeeffULL};
  script.inode = 1234;
  script.device = 64768;
  script.ctime_ns = 1795602667000000000;
  TreeEntry link;
  link.name = "tool";
  link.type = EntryType::kSymlink;
  link.mode = 0777;
  link.size = 7;
  link.link_target = "tool.sh";
  t.entries = {mail, link, script, config};
  const std::string a64(64, 'a'), b64(64, 'b'), c64(64, 'c');
  const std::string golden =
      R"({"entries":[)"
      R"({"group":"root","mode":493,"mtime_ns":1795602667123456789,"name":"config",)"
      R"("subtree":")" + c64 + R"(","type":"dir","user":"root"},)"
      R"({"content":[")" + a64 + R"(",")" + b64 + R"("],"ctime_ns":1795602667000000000,)"
      R"("device":64768,"inode":1234,"mode":493,"name":"icewarpd.sh","size":1048577,)"
      R"("type":"file","xxh128":"00112233445566778899aabbccddeeff"},)"
      R"({"gid":994,"mode":448,"name":"mail","type":"excluded","uid":996},)"
      R"({"mode":511,"name":"tool","size":7,"target":"tool.sh","type":"symlink"}],)"
      R"("version":1})";
  const std::string doc = EncodeTree(t);
  EXPECT_EQ(doc, golden);
  // The tree's blob id; computed with sha256sum(1) on the bytes above.
  EXPECT_EQ(Sha256(doc).Hex(), "b360678ba2d990d1e8ede85bd4081a013eb550b6bfa6cdbb9ca4d4bcb9c2d718");
}

// Wraps entries in a tree document.
std::string Doc(const std::string& entries) {
  return R"({"entries":[)" + entries + R"(],"version":1})";
}

TEST(Tree, CorruptionIsReportedWithWhatAndWhere) {
  const std::string id(64, 'a');
  struct Case {
    std::string doc;
    std::string message;  // the whole message, or a part of it
  } cases[] = {
      {"", "tree: not JSON: "},
      {"{", "tree: not JSON: "},
      {"[]", "tree: not a JSON object"},
      {R"({"entries":[]})", "tree: missing \"version\""},
      {R"({"version":1})", "tree: missing \"entries\""},
      {R"({"entries":{},"version":1})", "tree: \"entries\" is not an array"},
      {R"({"entries":[],"version":"1"})", "tree: \"version\" is not an integer"},
      {R"({"entries":[],"extra":0,"version":1})", "tree: unknown key \"extra\""},
      {Doc("1"), "tree: entry 0: not an object"},
      {Doc(R"({"type":"file"})"), "tree: entry 0: missing \"name\""},
      {Doc(R"({"name":"a","name_hex":"61","type":"file"})"), "both \"name\" and \"name_hex\""},
      {Doc(R"({"name_hex":"6","type":"file"})"), "\"name_hex\" is not lowercase hex"},
      {Doc(R"({"name_hex":"FF","type":"file"})"), "\"name_hex\" is not lowercase hex"},
      {Doc(R"({"name_hex":"zz","type":"file"})"), "\"name_hex\" is not lowercase hex"},
      {Doc(R"({"name":7,"type":"file"})"), "tree: entry 0: \"name\" is not a string"},
      {Doc(R"({"name":"","type":"file"})"), "tree: entry 0 (\"\"): empty name"},
      {Doc(R"({"name":".","type":"file"})"), "name is \".\" or \"..\""},
      {Doc(R"({"name":"..","type":"file"})"), "name is \".\" or \"..\""},
      {Doc(R"({"name":"a/b","type":"file"})"), "tree: entry 0 (\"a/b\"): name contains '/'"},
      {Doc(R"({"name":"h","target":"../../etc/shadow","type":"hardlink"})"),
       "tree: entry 0 (\"h\"): hardlink target is not a path below the snapshot's root"},
      {Doc(R"({"name":"h","target":"/etc/shadow","type":"hardlink"})"), "hardlink target is not a path below"},
      {Doc(R"({"name":"h","target":"a/./b","type":"hardlink"})"), "hardlink target is not a path below"},
      {Doc(R"({"name":"h","target":"a/b/","type":"hardlink"})"), "hardlink target is not a path below"},
      {Doc(R"({"name":"h","target":"a//b","type":"hardlink"})"), "hardlink target is not a path below"},
      {Doc(R"({"name":"h","target":"a/..","type":"hardlink"})"), "hardlink target is not a path below"},
      {Doc(R"({"name":"a\u0000","type":"file"})"), "(\"a\\x00\"): name contains a NUL byte"},
      {Doc(R"({"name_hex":"6100","type":"file"})"), "name contains a NUL byte"},
      {Doc("{\"name\":\"\xff\",\"type\":\"file\"}"), "tree: not JSON: "},
      {Doc(R"({"name":"x"},{"name":"y"},{"name":"z"},{"name":"zz"},{"name":"foo","type":"dirr"})"),
       "tree: entry 0 (\"x\"): missing \"type\""},
      {Doc(R"({"name":"foo","type":"dirr"})"), "tree: entry 0 (\"foo\"): unknown type \"dirr\""},
      {Doc(R"({"name":"foo","type":1})"), "\"type\" is not a string"},
      {Doc(R"({"mode":"420","name":"f","type":"file"})"), "\"mode\" is not an unsigned integer"},
      {Doc(R"({"mode":-1,"name":"f","type":"file"})"), "\"mode\" is not an unsigned integer"},
      {Doc(R"({"mode":1.5,"name":"f","type":"file"})"), "\"mode\" is not an unsigned integer"},
      {Doc(R"({"mode":4096,"name":"f","type":"file"})"), "mode has bits beyond 07777"},
      {Doc(R"({"name":"f","type":"file","uid":4294967296})"), "\"uid\" is out of range"},
      {Doc(R"({"mtime_ns":9223372036854775808,"name":"f","type":"file"})"),
       "\"mtime_ns\" is out of range"},
      {Doc(R"({"mtime_ns":"0","name":"f","type":"file"})"), "\"mtime_ns\" is not an integer"},
      {Doc(R"({"name":"f","size":-5,"type":"file"})"), "\"size\" is not an unsigned integer"},
      {Doc(R"({"name":"f","size":18446744073709551616,"type":"file"})"),
       "\"size\" is not an unsigned integer"},
      {Doc(R"({"name":"f","sizee":1,"type":"file"})"), "tree: entry 0 (\"f\"): unknown key"},
      {Doc(R"({"name":"d","type":"dir"})"), "tree: entry 0 (\"d\"): dir without \"subtree\""},
      {Doc(R"({"name":"f","subtree":")" + id + R"(","type":"file"})"), "file with \"subtree\""},
      {Doc(R"({"name":"d","subtree":")" + id.substr(1) + R"(","type":"dir"})"),
       "\"subtree\" is not a blob id"},
      {Doc(R"({"content":[")" + id + R"("],"name":"d","type":"fifo"})"), "fifo with \"content\""},
      {Doc(R"({"content":")" + id + R"(","name":"f","type":"file"})"),
       "\"content\" is not an array"},
      {Doc(R"({"content":[")" + id + R"(","A"],"name":"f","type":"file"})"),
       "\"content\" item 1 is not a blob id"},
      {Doc(R"({"name":"f","type":"file","xxh128":"0011"})"), "\"xxh128\" is not an XXH3-128"},
      {Doc(R"({"name":"l","type":"symlink","xxh128":"00112233445566778899aabbccddeeff"})"),
       "symlink with \"xxh128\""},
      {Doc(R"({"name":"l","type":"symlink"})"), "symlink without \"target\""},
      {Doc(R"({"name":"h","type":"hardlink"})"), "hardlink without \"target\""},
      {Doc(R"({"name":"p","target":"x","type":"fifo"})"), "fifo with \"target\""},
      {Doc(R"({"name":"l","target":"a\u0000b","type":"symlink"})"), "target contains a NUL"},
      {Doc(R"({"name":"f","rdev":5,"type":"file"})"), "file with \"rdev\""},
      {Doc(R"({"name":"f","type":"file","xattrs":{}})"), "\"xattrs\" is not an array"},
      {Doc(R"({"name":"f","type":"file","xattrs":[{"value":"v"}]})"),
       "tree: entry 0 (\"f\"): xattr 0: missing \"name\""},
      {Doc(R"({"name":"f","type":"file","xattrs":[{"name":"a","x":1}]})"),
       "xattr 0: unknown key \"x\""},
      {Doc(R"({"name":"f","type":"file","xattrs":[{"name":"b"},{"name":"a"}]})"),
       "xattr 1 (\"a\"): not sorted or not unique"},
      {Doc(R"({"name":"f","type":"file","xattrs":[{"name":"a"},{"name":"a"}]})"),
       "xattr 1 (\"a\"): not sorted or not unique"},
      {Doc(R"({"name":"f","type":"file","xattrs":[{"name":""}]})"), "name is empty or has a NUL"},
      {Doc(R"({"name":"b","type":"file"},{"name":"a","type":"file"})"),
       "tree: entry 1 (\"a\"): not sorted (after \"b\")"},
      {Doc(R"({"name":"a","type":"file"},{"name":"a","type":"fifo"})"),
       "tree: entry 1 (\"a\"): duplicate name"},
      {Doc(R"({"name":"z","type":"file"},{"name_hex":"7a","type":"fifo"})"), "duplicate name"},
  };
  for (const Case& c : cases) {
    Result<Tree> t = DecodeTree(c.doc);
    ASSERT_FALSE(t.ok()) << c.doc;
    EXPECT_EQ(t.status().code(), Code::kCorruption) << c.doc;
    EXPECT_NE(t.status().message().find(c.message), std::string::npos)
        << "doc: " << c.doc << "\nmessage: " << t.status().message();
  }
  // The example of the contract, whole.
  std::string four;
  for (const char* n : {"a", "b", "c", "d"}) {
    four += R"({"name":")" + std::string(n) + R"(","type":"fifo"},)";
  }
  Result<Tree> t = DecodeTree(Doc(four + R"({"name":"foo","type":"dirr"})"));
  EXPECT_EQ(t.status().message(), "tree: entry 4 (\"foo\"): unknown type \"dirr\"");
}

TEST(Tree, NewerVersionIsNotSupported) {
  Result<Tree> t = DecodeTree(R"({"entries":[],"version":2})");
  EXPECT_EQ(t.status().code(), Code::kNotSupported) << t.status().ToString();
}

TEST(Tree, ValidateTreeChecksStructs) {
  EXPECT_TRUE(ValidateTree(EveryType()).ok());
  Tree t = EveryType();
  std::swap(t.entries[0], t.entries[1]);
  EXPECT_EQ(ValidateTree(t).code(), Code::kCorruption);
  t = EveryType();
  t.entries[1].subtree.reset();
  EXPECT_EQ(ValidateTree(t).message(), "tree: entry 1 (\"b-dir\"): dir without \"subtree\"");
}

// Whatever the damage, DecodeTree returns (no exception, no crash), and whatever it accepts
// re-encodes to a document that decodes to the same tree.
TEST(Tree, DamagedDocumentsNeverCrash) {
  const std::string doc = EncodeTree(EveryType());
  std::mt19937 rng(7);
  int accepted = 0;
  auto check = [&](const std::string& damaged) {
    Result<Tree> t = DecodeTree(damaged);
    if (!t.ok()) return;
    ++accepted;
    Result<Tree> again = DecodeTree(EncodeTree(*t));
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << damaged;
    EXPECT_EQ(again->entries, t->entries) << damaged;
  };
  for (size_t n = 0; n < doc.size(); ++n) check(doc.substr(0, n));
  const char kBytes[] = "{}[]\",:0123456789-.eE\\u \xff\x00az";
  for (int i = 0; i < 5000; ++i) {
    std::string damaged = doc;
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k) {
      damaged[rng() % damaged.size()] = kBytes[rng() % (sizeof kBytes - 1)];
    }
    check(damaged);
  }
  EXPECT_GT(accepted, 0);  // some damage (a digit for a digit) is still a valid tree
}


// EncodeTree writes the canonical bytes itself: they must be the JSON library's, byte for byte,
// for any tree (names with quotes, backslashes, control bytes, DEL, UTF-8, bytes that are not
// UTF-8; extreme numbers; unsorted entries and xattrs).
TEST(Tree, DirectEncodingIsTheJsonLibrarys) {
  std::mt19937_64 rng(5);
  const std::string kPieces[] = {"a", "Z", "\"", "\\", "\b", "\f", "\n", "\r", "\t", std::string(1, '\0'), "\x01",
                                 "\x1f", " ", "\x7f", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xff",
                                 "\xc3", "\xed\xa0\x80", "/", "."};
  auto bytes = [&](size_t max) {
    std::string s;
    for (size_t n = rng() % (max + 1); n > 0; --n) s += kPieces[rng() % std::size(kPieces)];
    return s;
  };
  auto number = [&]() -> uint64_t {
    switch (rng() % 4) {
      case 0: return 0;
      case 1: return rng() % 1000;
      case 2: return UINT64_MAX - rng() % 3;
      default: return rng();
    }
  };
  for (int round = 0; round < 2000; ++round) {
    Tree t;
    for (size_t n = rng() % 6; n > 0; --n) {
      TreeEntry e;
      e.name = bytes(4);
      e.type = static_cast<EntryType>(rng() % 8);
      e.mode = static_cast<uint32_t>(number());
      e.uid = static_cast<uint32_t>(number());
      e.gid = static_cast<uint32_t>(number());
      e.user = bytes(2);
      e.group = bytes(2);
      e.mtime_ns = static_cast<int64_t>(number());
      e.ctime_ns = static_cast<int64_t>(number());
      e.size = number();
      e.rdev = number();
      e.inode = number();
      e.device = number();
      e.nlink = rng() % 3 == 0 ? 1 : number();
      for (size_t k = rng() % 3; k > 0; --k) e.content.push_back(Id("0123456789abcdef"[rng() % 16]));
      if (rng() % 2) e.subtree = Id("0123456789abcdef"[rng() % 16]);
      e.link_target = bytes(3);
      if (rng() % 2) e.xxh128 = Xxh128{rng(), rng()};
      for (size_t k = rng() % 3; k > 0; --k) e.xattrs.push_back({bytes(2), bytes(3)});
      t.entries.push_back(std::move(e));
    }
    ASSERT_EQ(EncodeTree(t), manifest_internal::EncodeTreeJson(t)) << "round " << round;
  }
  Tree every = EveryType();
  EXPECT_EQ(EncodeTree(every), manifest_internal::EncodeTreeJson(every));
}

// DecodeTree reads the canonical form with a fast reader and everything else with the JSON
// library: on every input where the fast reader answers, both must agree exactly.
void ExpectReadersAgree(const std::string& doc, int* fast_answers) {
  Tree fast;
  if (!manifest_internal::DecodeTreeFast(doc, &fast)) return;
  ++*fast_answers;
  Result<Tree> slow = manifest_internal::DecodeTreeJson(doc);
  ASSERT_EQ(slow.ok(), ValidateTree(fast).ok()) << doc;
  if (slow.ok()) {
    EXPECT_EQ(slow->entries, fast.entries) << doc;
  }
  Result<Tree> both = DecodeTree(doc);
  ASSERT_EQ(both.ok(), slow.ok()) << doc;
  if (both.ok()) {
    EXPECT_EQ(both->entries, slow->entries) << doc;
  }
}

TEST(Tree, FastReaderAgreesWithTheJsonLibrary) {
  // What backups write: plain names, every type, every field, text xattrs.
  Tree t = EveryType();
  for (TreeEntry& e : t.entries) e.xattrs = {{"user.a", "1"}, {"user.b", ""}, {"user.c", "x y"}};
  t.entries[0].name = "caf\xc3\xa9 \xe2\x82\xac.txt";  // UTF-8 names stay plain strings
  t.entries[0].mtime_ns = INT64_MIN;
  t.entries[1].ctime_ns = INT64_MAX;
  std::sort(t.entries.begin(), t.entries.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
  const std::string doc = EncodeTree(t);
  Tree fast;
  ASSERT_TRUE(manifest_internal::DecodeTreeFast(doc, &fast)) << doc;
  EXPECT_EQ(fast.entries, t.entries);
  int fast_answers = 0;
  ExpectReadersAgree(doc, &fast_answers);
  ExpectReadersAgree("{\"entries\":[],\"version\":1}", &fast_answers);
  // Forms it leaves to the library: escapes, hex, whitespace, other key orders, duplicates.
  for (const char* other : {
           "{\"entries\":[{\"name\":\"a\\\"b\",\"type\":\"fifo\"}],\"version\":1}",
           "{\"entries\":[{\"name_hex\":\"ff\",\"type\":\"fifo\"}],\"version\":1}",
           "{ \"entries\":[],\"version\":1}",
           "{\"version\":1,\"entries\":[]}",
           "{\"entries\":[{\"name\":\"a\",\"name\":\"b\",\"type\":\"fifo\"}],\"version\":1}",
           "{\"entries\":[{\"name\":\"a\",\"type\":\"fifo\",\"mode\":-0}],\"version\":1}",
           "{\"entries\":[{\"name\":\"a\",\"type\":\"fifo\",\"size\":18446744073709551616}],\"version\":1}",
           "{\"entries\":[{\"name\":\"a\",\"type\":\"fifo\",\"mode\":1.0}],\"version\":1}",
       }) {
    Tree ignored;
    EXPECT_FALSE(manifest_internal::DecodeTreeFast(other, &ignored)) << other;
  }
  // Damage anywhere: whenever the fast reader answers, it answers as the library does.
  std::mt19937 rng(11);
  const char kBytes[] = "{}[]\",:0123456789-.eE\\u \xff\x00az";
  for (size_t n = 0; n < doc.size(); ++n) ExpectReadersAgree(doc.substr(0, n), &fast_answers);
  for (int i = 0; i < 20000; ++i) {
    std::string damaged = doc;
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k) {
      damaged[rng() % damaged.size()] = kBytes[rng() % (sizeof kBytes - 1)];
    }
    ExpectReadersAgree(damaged, &fast_answers);
  }
  EXPECT_GT(fast_answers, 1000);
}

}  // namespace
}  // namespace rw
