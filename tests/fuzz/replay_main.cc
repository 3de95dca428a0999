// Replays fuzz corpora without libFuzzer, so every normal (g++) build runs them under ctest.
// usage: fuzz_replay_<target> FILE_OR_DIR...
// Each regular file (directories are walked recursively, in sorted order) is read whole and
// passed once to the target's LLVMFuzzerTestOneInput, compiled into this executable. A target
// that finds a bug calls abort(), which ends the run with SIGABRT; this main only reports how
// many inputs ran. Exit 0 when every input ran, 1 on a usage or I/O error (a missing corpus).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool ReadFile(const fs::path& path, std::vector<uint8_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool Collect(const fs::path& arg, std::vector<fs::path>* files) {
  std::error_code ec;
  const fs::file_status st = fs::status(arg, ec);
  if (ec) {
    std::fprintf(stderr, "fuzz replay: %s: %s\n", arg.c_str(), ec.message().c_str());
    return false;
  }
  if (fs::is_regular_file(st)) {
    files->push_back(arg);
    return true;
  }
  if (!fs::is_directory(st)) {
    std::fprintf(stderr, "fuzz replay: %s: not a file or directory\n", arg.c_str());
    return false;
  }
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) found.push_back(it->path());
  }
  if (ec) {
    std::fprintf(stderr, "fuzz replay: %s: %s\n", arg.c_str(), ec.message().c_str());
    return false;
  }
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 1;
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (!Collect(argv[i], &files)) return 1;
  }
  size_t count = 0;
  std::vector<uint8_t> data;
  for (const fs::path& f : files) {
    if (!ReadFile(f, &data)) {
      std::fprintf(stderr, "fuzz replay: cannot read %s\n", f.c_str());
      return 1;
    }
    // Print the name first: if the target aborts, the log says which input did it.
    std::printf("%s (%zu bytes)\n", f.c_str(), data.size());
    std::fflush(stdout);
    // A copy in a buffer of exactly the input's size, so sanitizers catch reads past its end.
    // An empty input still gets a valid pointer, as under libFuzzer.
    std::vector<uint8_t> exact(data.begin(), data.end());
    static const uint8_t kEmpty[1] = {0};
    LLVMFuzzerTestOneInput(exact.empty() ? kEmpty : exact.data(), exact.size());
    ++count;
  }
  std::printf("replayed %zu inputs\n", count);
  if (count == 0) {
    std::fprintf(stderr, "fuzz replay: no inputs found\n");
    return 1;
  }
  return 0;
}
