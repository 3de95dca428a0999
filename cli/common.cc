#include "cli/common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace rw::cli {

CLI::Validator NonEmptyPath() {
  return CLI::Validator([](std::string& value) { return value.empty() ? std::string("an empty path") : std::string(); },
                        "PATH");
}

void AddRepoOption(CLI::App* sub, Context* ctx) {
  sub->add_option("-r,--repo", ctx->repo, "repository directory (or set REWIND_REPO)")
      ->envname("REWIND_REPO")
      ->check(NonEmptyPath());
}

namespace {
bool g_json_errors = false;
}  // namespace

void SetJsonErrors(bool on) { g_json_errors = on; }

int Fail(const std::string& what, const Status& status) { return Fail(what, status, nlohmann::json::object()); }

int Fail(const std::string& what, const Status& status, const nlohmann::json& extra) {
  std::fprintf(stderr, "rewind: %s: %s\n", what.c_str(), status.message().c_str());
  if (g_json_errors) {
    nlohmann::json j = {{"error", what + ": " + status.message()}, {"exit_code", kExitError}};
    for (const auto& [k, v] : extra.items()) j[k] = v;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    g_json_errors = false;  // one error object per run
  }
  return kExitError;
}

Result<std::vector<DbServerSpec>> ServersFromFlags(const std::vector<std::string>& defaults_files,
                                                   const std::vector<std::string>& labels) {
  if (defaults_files.size() > 1 && labels.size() != defaults_files.size()) {
    return Status::InvalidArgument("with several --mysql-defaults-file, give one --db-label per file, in the same order");
  }
  if (labels.size() > std::max<size_t>(1, defaults_files.size())) {
    return Status::InvalidArgument("more --db-label than --mysql-defaults-file");
  }
  std::vector<DbServerSpec> out;
  for (size_t i = 0; i < defaults_files.size(); ++i) {
    out.push_back({i < labels.size() ? labels[i] : "", defaults_files[i]});
  }
  return out;
}

std::unique_ptr<Repository> OpenRepo(const Context& ctx) {
  if (ctx.repo.empty()) {
    std::fprintf(stderr, "rewind: no repository given: use --repo DIR or set REWIND_REPO\n");
    return nullptr;
  }
  auto repo = Repository::Open(ctx.repo);
  if (!repo.ok()) {
    Fail("cannot open repository " + ctx.repo, repo.status());
    return nullptr;
  }
  return std::move(repo).value();
}

ProgressLine::ProgressLine(std::function<std::string()> line) : line_(std::move(line)) {
  if (!::isatty(STDERR_FILENO)) return;
  active_ = true;
  thread_ = std::thread([this] {
    int ticks = 0;
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (++ticks % 5 != 0) continue;
      std::string text = line_();
      if (text.empty()) continue;  // nothing to show now (e.g. a question is on the screen)
      std::fprintf(stderr, "\r\033[K%s", text.c_str());
      std::fflush(stderr);
    }
  });
}

ProgressLine::~ProgressLine() {
  if (!active_) return;
  stop_ = true;
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

const char* LineReset() {
  static const bool tty = ::isatty(STDERR_FILENO);
  return tty ? "\r\033[K" : "";
}

std::string PrintablePath(const std::string& path) {
  bool plain = true;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') plain = false;
  }
  if (plain) return path;
  std::string out = "\"";
  for (unsigned char c : path) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace rw::cli
